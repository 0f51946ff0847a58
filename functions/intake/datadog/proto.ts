/**
 * The Datadog agent's `/api/v2/series` body in protobuf (`application/x-protobuf`): MetricPayload
 * of DataDog/agent-payload proto/metrics/agent_payload.proto, read with the project's ProtoReader.
 * series = 1: MetricSeries { resources = 1 { type = 1, name = 2 }, metric = 2, tags = 3,
 * points = 4 { value = 1 double, timestamp = 2 int64 }, type = 5, unit = 6,
 * source_type_name = 7, interval = 8, metadata = 9 }. Malformed input is a DatadogDecodeError.
 */
import { StreamfoldError } from '../../shared/errors.ts';
import { ProtoReader } from '../../shared/protobuf.ts';

export class DatadogDecodeError extends StreamfoldError {}

export interface V2Series {
  readonly metric: string;
  readonly type: number;
  readonly interval: number | undefined;
  readonly tags: string[];
  readonly resources: Array<{ type: string; name: string }>;
  readonly points: Array<{ timestamp: number; value: number }>;
}

const fail = (reason: string) => new DatadogDecodeError(`Datadog MetricPayload: ${reason}`);

export function decodeMetricPayload(body: Uint8Array): V2Series[] {
  const r = new ProtoReader(body, fail, 'MetricPayload');
  const out: V2Series[] = [];
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field === 1 && wire === 2) out.push(series(r, r.end()));
    else r.skip(wire);
  }
  return out;
}

function series(r: ProtoReader, end: number): V2Series {
  const s: { -readonly [K in keyof V2Series]: V2Series[K] } = { metric: '', type: 0, interval: undefined, tags: [], resources: [], points: [] };
  while (r.pos < end) {
    const { field, wire } = r.tag();
    if (field === 1 && wire === 2) {
      const e = r.end();
      let type = '';
      let name = '';
      while (r.pos < e) {
        const t = r.tag();
        if (t.field === 1 && t.wire === 2) type = r.string();
        else if (t.field === 2 && t.wire === 2) name = r.string();
        else r.skip(t.wire);
      }
      check(r, e);
      s.resources.push({ type, name });
    } else if (field === 2 && wire === 2) s.metric = r.string();
    else if (field === 3 && wire === 2) s.tags.push(r.string());
    else if (field === 4 && wire === 2) {
      const e = r.end();
      let value = 0;
      let timestamp = 0;
      while (r.pos < e) {
        const t = r.tag();
        if (t.field === 1 && t.wire === 1) value = r.double();
        else if (t.field === 2 && t.wire === 0) timestamp = r.int64();
        else r.skip(t.wire);
      }
      check(r, e);
      s.points.push({ timestamp, value });
    } else if (field === 5 && wire === 0) s.type = r.varint();
    else if (field === 8 && wire === 0) s.interval = r.int64();
    else r.skip(wire);
  }
  check(r, end);
  return s;
}

function check(r: ProtoReader, end: number): void {
  if (r.pos !== end) throw fail('a field runs past the end of its message');
}
