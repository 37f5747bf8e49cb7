import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { expect } from 'vitest';

/*
 * BXF schedule messages for tests, written as a traffic system sends them: the
 * structure of SMPTE's published BXF schemas (github.com/SMPTE/st2021-4,
 * schedule.xsd, scheduledevent.xsd, eventdata.xsd, contentmetadata.xsd,
 * bxftypes.xsd) and of its "Schedule Use Case.xml". `checkBxfStructure` holds a
 * document to those schemas' element order, as the as-run export's tests do for
 * what onair writes.
 */

export interface TestBxfEvent {
  eventId: string;
  /** Fixed, Follow, Manual, External */
  startMode?: string;
  /** SmpteTimeCode of StartDateTime (time of day), or a full UtcDateTime with `utc`. */
  start?: string;
  utc?: string;
  nominal?: boolean;
  /** SmpteTimeCode of LengthOption/Duration. */
  duration: string;
  framecount?: number;
  houseNumber?: string;
  name?: string;
  som?: string;
  /** A NonPrimaryEvent (a secondary event: a logo key) instead of a PrimaryEvent. */
  secondary?: boolean;
  eventType?: string;
}

export interface TestBxfSchedule {
  broadcastDate: string;
  utcStartofBroadcastDay?: string;
  frameRate?: string;
  namespace?: string;
  events: TestBxfEvent[];
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');

function scheduleElements(e: TestBxfEvent, s: TestBxfSchedule): string {
  const rate = s.frameRate ? ` frameRate="${s.frameRate}"` : '';
  const startDateTime = e.utc
    ? `<StartDateTime><UtcDateTime>${e.utc}</UtcDateTime></StartDateTime>`
    : `<StartDateTime${e.nominal ? ' nominalFlag="true"' : ''}><SmpteDateTime broadcastDate="${s.broadcastDate}"` +
      (s.utcStartofBroadcastDay ? ` utcStartofBroadcastDay="${s.utcStartofBroadcastDay}"` : '') +
      `${rate}><SmpteTimeCode>${e.start ?? '00:00:00:00'}</SmpteTimeCode></SmpteDateTime></StartDateTime>`;
  const framecount = e.framecount === undefined ? '' : ` framecount="${e.framecount}"`;
  const kind = e.secondary
    ? '<NonPrimaryEvent><NonPrimaryEventName>Logo</NonPrimaryEventName></NonPrimaryEvent>'
    : `<PrimaryEvent><ProgramEvent><SegmentNumber>1</SegmentNumber><ProgramName>${esc(e.name ?? 'Programme')}</ProgramName></ProgramEvent></PrimaryEvent>`;
  const eventType = e.eventType ?? (e.secondary ? 'NonPrimary' : 'Primary');
  const content =
    e.houseNumber === undefined && e.name === undefined
      ? ''
      : '<Content><ContentId>' +
        (e.houseNumber !== undefined
          ? `<HouseNumber>${esc(e.houseNumber)}</HouseNumber>`
          : '<AlternateId idType="None">none</AlternateId>') +
        '</ContentId>' +
        (e.name !== undefined ? `<Name>${esc(e.name)}</Name>` : '') +
        '<Media><BaseBand/><MediaLocation><Location><AssetServer fileTransferAllowed="true" playoutAllowed="true">' +
        '<PathName>onair</PathName></AssetServer></Location>' +
        `<SOM><SmpteTimeCode>${e.som ?? '00:00:00:00'}</SmpteTimeCode></SOM>` +
        `<Duration><SmpteDuration${rate}><SmpteTimeCode>${e.duration}</SmpteTimeCode></SmpteDuration></Duration>` +
        '</MediaLocation></Media></Content>';
  return (
    `<ScheduleElements><EventData eventType="${eventType}"><EventId><EventId>${esc(e.eventId)}</EventId></EventId>` +
    kind +
    startDateTime +
    `<LengthOption><Duration><SmpteDuration${rate}${framecount}><SmpteTimeCode>${e.duration}</SmpteTimeCode></SmpteDuration></Duration></LengthOption>` +
    `<StartMode>${e.startMode ?? 'Follow'}</StartMode><EndMode>Duration</EndMode></EventData>` +
    content +
    '</ScheduleElements>'
  );
}

/** A traffic system's BXF schedule message for one channel and broadcast day. */
export function bxfScheduleMessage(s: TestBxfSchedule): string {
  const ns = s.namespace ?? 'http://smpte-ra.org/schemas/2021/2019/BXF';
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<BxfMessage xmlns="${ns}" xmlns:pmcp="http://www.atsc.org/XMLSchemas/pmcp/2007/3.1"` +
    ' id="urn:uuid:6e0f3c1a-0000-4000-8000-000000000001" dateTime="2026-10-23T12:00:00Z" messageType="Information"' +
    ' origin="Traffic" originType="Traffic" userName="traffic" destination="onair">\n' +
    '<BxfData action="add">\n' +
    `<Schedule type="Primary" scheduleId="urn:uuid:6e0f3c1a-0000-4000-8000-000000000002" scheduleName="Day ${s.broadcastDate}">\n` +
    '<Channel type="digital_television" shortName="ONAIR"><pmcp:Name>onair</pmcp:Name></Channel>\n' +
    s.events.map((e) => `<ScheduledEvent>${scheduleElements(e, s)}</ScheduledEvent>\n`).join('') +
    '</Schedule>\n</BxfData>\n</BxfMessage>\n'
  );
}

/**
 * The schemas' sequences for the elements a schedule message uses here: each
 * element's children must come in this order (xs:sequence), and the required
 * ones must be there. Elements not listed are not checked.
 */
const SEQUENCES: Record<string, { order: string[]; required: string[] }> = {
  BxfMessage: { order: ['BxfData'], required: ['BxfData'] },
  Schedule: { order: ['Channel', 'ScheduledEvent'], required: [] },
  ScheduledEvent: { order: ['EventData', 'Content', 'ScheduleElements'], required: [] },
  ScheduleElements: { order: ['EventData', 'Content', 'PrivateInformation'], required: [] },
  EventData: {
    order: [
      'EventId',
      'EventTitle',
      'PrimaryEvent',
      'NonPrimaryEvent',
      'StartDateTime',
      'LengthOption',
      'StartMode',
      'EndMode',
    ],
    required: ['EventId', 'StartDateTime', 'LengthOption'],
  },
  Content: { order: ['ContentId', 'Name', 'Media'], required: ['ContentId'] },
  Media: { order: ['BaseBand', 'MediaLocation'], required: ['MediaLocation'] },
  MediaLocation: { order: ['Location', 'SOM', 'Duration'], required: ['Location', 'SOM', 'Duration'] },
};
const BXF_MESSAGE_ATTRIBUTES = ['id', 'dateTime', 'messageType', 'origin', 'originType', 'userName', 'destination'];
const START_MODES = ['Follow', 'Fixed', 'Manual', 'External'];
const TIME_CODE = /^(([0-1][0-9])|([2][0-3])):[0-5][0-9]:[0-5][0-9](([.,])|([:;]))[0-5][0-9]$/;

type Ordered = Record<string, unknown> & { ':@'?: Record<string, string> };
const ordered = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseTagValue: false,
});

/** Holds a document to the BXF schemas' structure for what it uses; fails the test where it does not. */
export function checkBxfStructure(document: string): void {
  expect(XMLValidator.validate(document)).toBe(true);
  const walk = (nodes: Ordered[], parent: string) => {
    const names = nodes.map((n) => Object.keys(n).find((k) => k !== ':@')!).filter((n) => n !== '#text');
    const rule = SEQUENCES[parent];
    if (rule) {
      const positions = names.filter((n) => rule.order.includes(n)).map((n) => rule.order.indexOf(n));
      expect([parent, positions]).toEqual([parent, [...positions].sort((a, b) => a - b)]);
      for (const r of rule.required) expect([parent, r, names.includes(r)]).toEqual([parent, r, true]);
    }
    for (const node of nodes) {
      const name = Object.keys(node).find((k) => k !== ':@')!;
      if (name === '#text' || name === '?xml') continue;
      const children = node[name] as Ordered[];
      if (name === 'BxfMessage')
        for (const a of BXF_MESSAGE_ATTRIBUTES) expect([a, typeof node[':@']?.[a]]).toEqual([a, 'string']);
      if (name === 'SmpteDateTime') expect(node[':@']?.broadcastDate).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      if (name === 'SmpteTimeCode' || name === 'StartMode') {
        const text = String((children[0] as Record<string, unknown>)?.['#text'] ?? '');
        if (name === 'SmpteTimeCode') expect(text).toMatch(TIME_CODE);
        else expect(START_MODES).toContain(text);
      }
      walk(children, name);
    }
  };
  walk(ordered.parse(document), '');
}
