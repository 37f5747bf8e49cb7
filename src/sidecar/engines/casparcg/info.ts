import { XMLParser, XMLValidator } from 'fast-xml-parser';

/**
 * Reading CasparCG's INFO answers: pure, table-tested.
 *
 * `INFO <channel>` answers `201 INFO OK` and one CR LF line holding an XML
 * document (boost property_tree, `\n` inside) of the channel's state: keys
 * like `stage/layer/10/foreground/file/time` become nested elements, a
 * digit-only segment is renamed `layer_10` / `port_700`, and a key with two
 * values repeats its element (`<time>1.2</time><time>60</time>`). 2.3 and 2.4
 * write the same shape. casparcg-connection's own INFO channel parser keeps
 * only the layers; the output ports (consumers the server dropped) are needed
 * too, hence this reader, over fast-xml-parser in document order.
 */

export interface XmlElement {
  name: string;
  text: string;
  children: XmlElement[];
}

/** Document order kept (a repeated key stays two elements), every value as text, attributes ignored. */
const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: true,
  parseTagValue: false,
  trimValues: true,
  ignoreDeclaration: true,
});

/** fast-xml-parser's ordered node: `{ <name>: [children…] }` or `{ '#text': value }`. */
type OrderedNode = Record<string, unknown>;

function element(node: OrderedNode): XmlElement | null {
  const name = Object.keys(node).find((k) => k !== ':@' && k !== '#text');
  if (!name) return null;
  const nodes = (node[name] as OrderedNode[]) ?? [];
  const text = nodes.map((n) => (n['#text'] === undefined ? '' : String(n['#text']))).join('');
  const children = nodes.map(element).filter((e): e is XmlElement => e !== null);
  return { name, text, children };
}

/** The document's root element; throws on markup that is not well formed. */
export function parseXml(xml: string): XmlElement {
  const valid = XMLValidator.validate(xml);
  if (valid !== true) throw new Error(`INFO answer is not XML: ${valid.err.msg} (line ${valid.err.line})`);
  const root = (parser.parse(xml) as OrderedNode[]).map(element).find((e) => e !== null);
  if (!root) throw new Error('no element');
  return root;
}

/** The first descendant along the path of element names, or null. */
export function child(el: XmlElement | null | undefined, ...path: string[]): XmlElement | null {
  let at: XmlElement | null = el ?? null;
  for (const name of path) {
    at = at?.children.find((c) => c.name === name) ?? null;
  }
  return at;
}

/** Every value of a repeated key (`<time>` twice), as text. */
function values(el: XmlElement | null, name: string): string[] {
  return el ? el.children.filter((c) => c.name === name).map((c) => c.text) : [];
}

function number(text: string | undefined): number | null {
  if (text === undefined || text === '') return null;
  const n = Number(text);
  return Number.isFinite(n) ? n : null;
}

/** One side of a layer (foreground or background) as INFO shows it. */
export interface ProducerState {
  /** `ffmpeg`, `transition` (the clip's state is the destination's), `color`, `empty`, … */
  producer: string;
  /** The clip name as it was given in PLAY/LOADBG. */
  name: string | null;
  /** Playhead position in the file, seconds (file/time[0]). */
  timeSec: number | null;
  paused: boolean;
}

export interface ChannelSnapshot {
  /** Ticks per second as INFO reports them (50/1 for 1080i5000 and 1080p5000). */
  framerate: { num: number; den: number } | null;
  foreground: ProducerState;
  background: ProducerState;
  /** Consumer indices present on the channel's output. */
  ports: number[];
}

export const EMPTY: ProducerState = { producer: 'empty', name: null, timeSec: null, paused: false };

function producerState(el: XmlElement | null): ProducerState {
  if (!el) return EMPTY;
  const file = child(el, 'file');
  return {
    producer: child(el, 'producer')?.text || 'empty',
    name: child(file, 'name')?.text || null,
    timeSec: number(values(file, 'time')[0]),
    paused: child(el, 'paused')?.text === 'true',
  };
}

/** The parts of `INFO <channel>` the engine needs about one layer; a layer never used is empty. */
export function channelSnapshot(xml: string, layer: number): ChannelSnapshot {
  const channel = parseXml(xml);
  const el = child(channel, 'stage', 'layer', `layer_${layer}`);
  const [num, den] = values(channel, 'framerate').map(Number);
  const ports = (child(channel, 'output', 'port')?.children ?? [])
    .map((p) => /^port_(\d+)$/.exec(p.name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]));
  return {
    framerate: Number.isFinite(num) && Number.isFinite(den) && den > 0 ? { num, den } : null,
    foreground: producerState(child(el, 'foreground')),
    background: producerState(child(el, 'background')),
    ports,
  };
}

/** `INFO` lines (`1 1080i5000 PLAYING`) → channel number and video mode. */
export function channelModes(lines: readonly string[]): { channel: number; mode: string }[] {
  return lines
    .map((line) => /^\s*(\d+)\s+(\S+)/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ channel: Number(m[1]), mode: m[2] }));
}

/**
 * The media folder from `INFO PATHS`, absolute: 2.3/2.4 report it as configured
 * (often `media/`, relative to the server's working directory, initial-path).
 */
export function mediaFolder(xml: string): string | null {
  const paths = parseXml(xml);
  const media = child(paths, 'media-path')?.text;
  if (!media) return null;
  if (media.startsWith('/') || /^[A-Za-z]:[\\/]/.test(media)) return media;
  const initial = child(paths, 'initial-path')?.text;
  if (!initial) return null;
  return `${initial.replace(/[\\/]+$/, '')}/${media.replace(/^\.?[\\/]/, '')}`;
}
