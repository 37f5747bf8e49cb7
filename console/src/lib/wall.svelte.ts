import { SvelteMap } from 'svelte/reactivity';
import {
  ChannelPreviewUrlDocument,
  PauseDocument,
  ResumeDocument,
  SkipDocument,
  WallChannelEventsDocument,
  WallChannelsDocument,
  WallEngineStatusDocument,
  type WallChannelEventsSubscription,
  type WallChannelFragment,
  type WallEngineFragment,
} from '../gql/graphql.ts';
import type { Api } from './api.ts';
import { type AnchoredEngine, anchorEngine } from './countdown.ts';

/** How long a tile that left the screen keeps its engine subscription. */
const OFF_SCREEN_LINGER_MS = 3_000;

export type TransportAction = 'pause' | 'resume' | 'skip';

/**
 * The channel wall's state: the channels the caller may see (read over HTTP, then kept by
 * channelEvents) and the engine of each channel on screen (its engineStatus subscription,
 * anchored on arrival). One WebSocket carries at most WS_MAX_OPERATIONS_PER_CONNECTION
 * subscriptions and the API has no engineStatus across channels, so only tiles on screen (or
 * near it) follow their engine: a wall of hundreds of channels holds what one screen shows.
 * After the WebSocket dropped, the channels are read again (load), and each engine
 * subscription, renewed by the client, starts again with the engine's current state.
 */
export class WallState {
  channels = $state<WallChannelFragment[]>([]);
  readonly engines = new SvelteMap<string, AnchoredEngine>();
  loadError = $state<string | null>(null);
  /** performance.now() of the animation frame being drawn; the countdowns read it. */
  now = $state(performance.now());

  private readonly engineSubscriptions = new Map<string, () => void>();
  /** Channels whose tile is on screen (or near it), and the timers forgetting those that left. */
  private readonly onScreen = new Set<string>();
  private readonly leaving = new Map<string, ReturnType<typeof setTimeout>>();
  private stopEvents: (() => void) | null = null;
  private frame = 0;

  constructor(private readonly api: Api) {}

  /** Subscribes to every channel's events, reads the channels and starts the countdowns' clock. */
  start(): void {
    this.stopEvents = this.api.subscribe(WallChannelEventsDocument, {}, { next: (data) => this.onEvent(data) });
    void this.load();
    const tick = (time: number) => {
      this.now = time;
      this.frame = requestAnimationFrame(tick);
    };
    this.frame = requestAnimationFrame(tick);
  }

  stop(): void {
    cancelAnimationFrame(this.frame);
    this.stopEvents?.();
    for (const unsubscribe of this.engineSubscriptions.values()) unsubscribe();
    this.engineSubscriptions.clear();
    for (const timer of this.leaving.values()) clearTimeout(timer);
    this.leaving.clear();
  }

  /** Reads the channels the caller may see (at sign-in, and again after the link came back). */
  async load(): Promise<void> {
    try {
      const { channels } = await this.api.request(WallChannelsDocument);
      this.loadError = null;
      this.channels = channels;
      const ids = new Set(channels.map((c) => c.id));
      for (const id of [...this.engineSubscriptions.keys()]) if (!ids.has(id)) this.forgetEngine(id);
      for (const channel of channels) if (this.onScreen.has(channel.id)) this.watchEngine(channel.id);
    } catch (err) {
      this.loadError = (err as Error).message;
    }
  }

  /** Transport that keeps the channel on air; the answer is the engine's state now, counted from. */
  async transport(action: TransportAction, channelId: string): Promise<void> {
    const variables = { channelId };
    const engine =
      action === 'pause'
        ? (await this.api.request(PauseDocument, variables)).pause
        : action === 'resume'
          ? (await this.api.request(ResumeDocument, variables)).resume
          : (await this.api.request(SkipDocument, variables)).skip;
    this.applyEngine(engine);
  }

  /** The channel's signed preview URL, read fresh (it expires); null unless the channel runs. */
  async previewUrl(channelId: string): Promise<string | null> {
    return (await this.api.request(ChannelPreviewUrlDocument, { id: channelId })).channel?.previewUrl ?? null;
  }

  private applyEngine(engine: WallEngineFragment): void {
    this.engines.set(engine.channelId, anchorEngine(engine));
  }

  private onEvent({ channelEvents: event }: WallChannelEventsSubscription): void {
    // DELETED, or moved to a project the caller is not in: channel is null.
    if (!event.channel) {
      this.channels = this.channels.filter((c) => c.id !== event.channelId);
      this.forgetEngine(event.channelId);
      return;
    }
    const channel = event.channel;
    const at = this.channels.findIndex((c) => c.id === channel.id);
    if (at === -1) this.channels = [...this.channels, channel];
    else this.channels[at] = channel;
    if (this.onScreen.has(channel.id)) this.watchEngine(channel.id);
  }

  /**
   * A tile came on screen or left it. A tile that left is forgotten a little later, so
   * scrolling past does not subscribe and unsubscribe at every step; back on screen, the
   * subscription's first message is the engine's current state.
   */
  setOnScreen(channelId: string, visible: boolean): void {
    clearTimeout(this.leaving.get(channelId));
    this.leaving.delete(channelId);
    if (visible) {
      this.onScreen.add(channelId);
      if (this.channels.some((c) => c.id === channelId)) this.watchEngine(channelId);
      return;
    }
    this.onScreen.delete(channelId);
    this.leaving.set(
      channelId,
      setTimeout(() => {
        this.leaving.delete(channelId);
        if (!this.onScreen.has(channelId)) this.forgetEngine(channelId);
      }, OFF_SCREEN_LINGER_MS),
    );
  }

  private watchEngine(channelId: string): void {
    if (this.engineSubscriptions.has(channelId)) return;
    const unsubscribe = this.api.subscribe(
      WallEngineStatusDocument,
      { channelId },
      {
        next: ({ engineStatus }) => this.applyEngine(engineStatus),
        // NOT_FOUND: the channel left the caller's sight; its removal comes as an event.
        error: () => this.forgetEngine(channelId),
      },
    );
    this.engineSubscriptions.set(channelId, unsubscribe);
  }

  private forgetEngine(channelId: string): void {
    this.engineSubscriptions.get(channelId)?.();
    this.engineSubscriptions.delete(channelId);
    this.engines.delete(channelId);
  }
}
