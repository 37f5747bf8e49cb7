import { SvelteMap } from 'svelte/reactivity';
import {
  ChannelAsRunDocument,
  ChannelPageDocument,
  ChannelPageEngineDocument,
  ChannelPageEventsDocument,
  ChannelPauseDocument,
  ChannelPlayDocument,
  ChannelResumeDocument,
  ChannelSkipDocument,
  ChannelStartDocument,
  ChannelStopDocument,
  ChannelStopPlaybackDocument,
  RundownMediaDocument,
  type AsRunRowFragment,
  type ChannelEngineFragment,
  type ChannelPageChannelFragment,
  type RundownItemFragment,
  type RundownPlaylistFragment,
} from '../gql/graphql.ts';
import type { Api } from './api.ts';
import { type AnchoredEngine, anchorEngine } from './countdown.ts';

export type ChannelAction = 'pause' | 'resume' | 'skip' | 'stopPlayback' | 'start' | 'stop';

/** How many as-run entries the page keeps, newest first. */
export const AS_RUN_TAIL = 20;

/**
 * One channel's page: the channel (kept by its channelEvents), its playlists as rundowns (each
 * item's media kept by itemMedia for the playlist shown), the engine (its engineStatus, anchored
 * on arrival) and the as-run tail (read, then kept by the asRun subscription).
 */
export class ChannelPageState {
  channel = $state<ChannelPageChannelFragment | null>(null);
  playlists = $state<RundownPlaylistFragment[]>([]);
  engine = $state<AnchoredEngine<ChannelEngineFragment> | null>(null);
  asRun = $state<AsRunRowFragment[]>([]);
  /** The channel does not exist or the caller may not see it (any more). */
  missing = $state(false);
  loadError = $state<string | null>(null);
  /** The playlist the operator picked to play next; the rundown shows the one on air while there is one. */
  picked = $state<string | null>(null);
  /** performance.now() of the animation frame being drawn; the countdown reads it. */
  now = $state(performance.now());

  private readonly stops: (() => void)[] = [];
  private readonly media = new SvelteMap<string, RundownItemFragment>();
  private stopMedia: (() => void) | null = null;
  private mediaPlaylist: string | null = null;
  private frame = 0;

  constructor(
    private readonly api: Api,
    readonly channelId: string,
  ) {}

  /** The playlist on air (playing or paused), else the one picked, else the channel's first. */
  get shown(): RundownPlaylistFragment | null {
    const engine = this.engine?.engine;
    const airing = engine?.state === 'PLAYING' || engine?.state === 'PAUSED';
    const id = (airing ? engine?.playlist?.id : null) ?? this.picked;
    return this.playlists.find((p) => p.id === id) ?? this.playlists[0] ?? null;
  }

  /** An item with its media status as last pushed. */
  item(item: RundownItemFragment): RundownItemFragment {
    return this.media.get(item.id) ?? item;
  }

  start(): void {
    const variables = { channelId: this.channelId };
    const gone = () => {
      this.missing = true;
    };
    this.stops.push(
      this.api.subscribe(ChannelPageEngineDocument, variables, {
        next: ({ engineStatus }) => this.applyEngine(engineStatus),
        error: gone,
      }),
      this.api.subscribe(ChannelPageEventsDocument, variables, {
        next: ({ channelEvents }) => {
          if (channelEvents.channel) this.channel = channelEvents.channel;
          else gone();
        },
        error: gone,
      }),
      this.api.subscribe(ChannelAsRunDocument, variables, {
        next: ({ asRun }) => this.applyAsRun(asRun),
      }),
    );
    void this.load();
    const tick = (time: number) => {
      this.now = time;
      this.frame = requestAnimationFrame(tick);
    };
    this.frame = requestAnimationFrame(tick);
  }

  stop(): void {
    cancelAnimationFrame(this.frame);
    for (const stop of this.stops.splice(0)) stop();
    this.stopMedia?.();
  }

  /** Reads the channel, its playlists and the as-run tail (on opening, and after the link came back). */
  async load(): Promise<void> {
    try {
      const { channel } = await this.api.request(ChannelPageDocument, { id: this.channelId });
      this.loadError = null;
      if (!channel) {
        this.missing = true;
        return;
      }
      const { playlists, asRun, ...rest } = channel;
      this.channel = rest;
      this.playlists = playlists;
      this.media.clear();
      // Entries pushed while the page was being read are newer than what it read.
      const read = asRun.edges.map((e) => e.node);
      const pushed = this.asRun.filter((e) => !read.some((r) => r.id === e.id));
      this.asRun = [...pushed, ...read].slice(0, AS_RUN_TAIL);
      this.followMedia();
    } catch (err) {
      this.loadError = (err as Error).message;
    }
  }

  pick(playlistId: string): void {
    this.picked = playlistId;
    this.followMedia();
  }

  /** Runs one transport or lifecycle action; its error (with the API's code) is thrown to the caller. */
  async run(action: ChannelAction | 'play'): Promise<void> {
    const channelId = this.channelId;
    const id = channelId;
    switch (action) {
      case 'play': {
        const playlistId = this.picked ?? this.shown?.id;
        if (!playlistId) return;
        return this.applyEngine((await this.api.request(ChannelPlayDocument, { channelId, playlistId })).play);
      }
      case 'pause':
        return this.applyEngine((await this.api.request(ChannelPauseDocument, { channelId })).pause);
      case 'resume':
        return this.applyEngine((await this.api.request(ChannelResumeDocument, { channelId })).resume);
      case 'skip':
        return this.applyEngine((await this.api.request(ChannelSkipDocument, { channelId })).skip);
      case 'stopPlayback':
        return this.applyEngine((await this.api.request(ChannelStopPlaybackDocument, { channelId })).stopPlayback);
      case 'start':
        this.channel = (await this.api.request(ChannelStartDocument, { id })).startChannel;
        return;
      case 'stop':
        this.channel = (await this.api.request(ChannelStopDocument, { id })).stopChannel;
        return;
    }
  }

  private applyEngine(engine: ChannelEngineFragment): void {
    this.engine = anchorEngine(engine);
    this.followMedia();
  }

  private applyAsRun(entry: AsRunRowFragment): void {
    // An entry comes when it is recorded and again when it ends: the later replaces the earlier.
    const rest = this.asRun.filter((e) => e.id !== entry.id);
    this.asRun = [entry, ...rest]
      .sort((a, b) => Date.parse(b.startedAt) - Date.parse(a.startedAt))
      .slice(0, AS_RUN_TAIL);
  }

  /** Keeps itemMedia on the playlist the rundown shows. */
  private followMedia(): void {
    const playlistId = this.shown?.id ?? null;
    if (playlistId === this.mediaPlaylist) return;
    this.stopMedia?.();
    this.stopMedia = null;
    this.mediaPlaylist = playlistId;
    if (playlistId === null) return;
    this.stopMedia = this.api.subscribe(
      RundownMediaDocument,
      { playlistId },
      {
        next: ({ itemMedia }) => this.media.set(itemMedia.id, itemMedia),
      },
    );
  }
}
