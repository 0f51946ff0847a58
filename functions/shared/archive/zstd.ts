/**
 * ZSTD block codec for the pages of the archive's Parquet files (parquet.ts), loaded once per
 * container by each function that writes or reads them (archive, compaction, query).
 *
 * - **Native** (`node:zlib` zstd, Node ≥ 22.15 / 23.8): what the Lambda runtime (nodejs24.x) uses.
 *   No WebAssembly, no file to ship, ~3× faster than the fallback.
 * - **WebAssembly** (`@bokuweb/zstd-wasm`): the fallback for Node 20 (laptops, CI here). Its
 *   `init()` reads `zstd.wasm` next to the package's JS through `__dirname`, so in an ES-module
 *   bundle it only loads if the bundle defines `__dirname` and ships the `.wasm` beside it (see the
 *   report; the Lambda bundle never takes this path on nodejs24.x).
 *
 * Both produce standard zstd frames; any reader decodes either. Bytes may differ between the two
 * (different libzstd builds), so a file is byte-for-byte reproducible per runtime, not across them;
 * its rows are the same either way.
 */
import * as zlib from 'node:zlib';
import { PARQUET } from '../../../lib/settings.ts';
import { StreamfoldError } from '../errors.ts';

/** A page codec as hyparquet-writer (compress) and hyparquet (decompress) call it: synchronous. */
export interface BlockCodec {
  /** Parquet CompressionCodec name. */
  readonly name: 'ZSTD' | 'UNCOMPRESSED';
  /** Which implementation, for logs and benchmarks. */
  readonly implementation: 'native' | 'wasm' | 'none';
  compress(input: Uint8Array): Uint8Array;
  decompress(input: Uint8Array, outputLength: number): Uint8Array;
}

export class CodecUnavailableError extends StreamfoldError {}

/** zstd level 3 (zstd's default, ARCHIVE_ZSTD_LEVEL in lib/settings.ts): ~2× faster than 6 for ~5 % larger pages (bench/archive.ts). */
export const DEFAULT_ZSTD_LEVEL: number = PARQUET.zstdLevel.default;

/** For tests and for files small enough not to care. */
export const UNCOMPRESSED: BlockCodec = {
  name: 'UNCOMPRESSED',
  implementation: 'none',
  compress: (input) => input,
  decompress: (input) => input,
};

interface NativeZstd {
  zstdCompressSync(input: Uint8Array, options: { params: Record<number, number> }): Buffer;
  zstdDecompressSync(input: Uint8Array, options?: { maxOutputLength?: number }): Buffer;
  constants: { ZSTD_c_compressionLevel: number };
}

/** True when this Node.js has zstd in `node:zlib`. */
export function hasNativeZstd(): boolean {
  return typeof (zlib as unknown as Partial<NativeZstd>).zstdCompressSync === 'function';
}

export interface ZstdOptions {
  /** @default DEFAULT_ZSTD_LEVEL */
  readonly level?: number;
  /** Force an implementation (benchmarks, tests). @default native when available, else wasm */
  readonly implementation?: 'native' | 'wasm';
}

const cache = new Map<string, Promise<BlockCodec>>();

/** The ZSTD codec; memoized per (implementation, level). Rejects with `CodecUnavailableError`. */
export function loadZstd(opts: ZstdOptions = {}): Promise<BlockCodec> {
  const level = opts.level ?? DEFAULT_ZSTD_LEVEL;
  if (!Number.isInteger(level) || level < 1 || level > 22) {
    return Promise.reject(new CodecUnavailableError(`zstd level must be an integer from 1 to 22, got ${level}`));
  }
  const impl = opts.implementation ?? (hasNativeZstd() ? 'native' : 'wasm');
  const key = `${impl}:${level}`;
  let codec = cache.get(key);
  if (codec === undefined) {
    codec = impl === 'native' ? Promise.resolve().then(() => nativeZstd(level)) : wasmZstd(level);
    // A failed load is not cached: the next invocation tries again.
    codec.catch(() => cache.delete(key));
    cache.set(key, codec);
  }
  return codec;
}

function nativeZstd(level: number): BlockCodec {
  if (!hasNativeZstd()) {
    throw new CodecUnavailableError(`node:zlib has no zstd in Node.js ${process.version} (needs ≥ 22.15)`);
  }
  const z = zlib as unknown as NativeZstd;
  const params = { [z.constants.ZSTD_c_compressionLevel]: level };
  return {
    name: 'ZSTD',
    implementation: 'native',
    compress: (input) => z.zstdCompressSync(input, { params }),
    decompress: (input, outputLength) => checked(z.zstdDecompressSync(input, { maxOutputLength: Math.max(outputLength, 1) }), outputLength),
  };
}

type WasmZstd = typeof import('@bokuweb/zstd-wasm');
let wasmModule: Promise<WasmZstd> | undefined;

/**
 * The WebAssembly module, instantiated once per process: a second `init()` swaps the module's
 * memory under functions already bound to the first instance, and from then on every frame it
 * writes is corrupt (found by bench/archive.ts: levels 1, 9 then 3 in one process).
 */
function wasmInstance(): Promise<WasmZstd> {
  wasmModule ??= (async () => {
    const mod = await import('@bokuweb/zstd-wasm');
    await mod.init();
    return mod;
  })();
  wasmModule.catch(() => {
    wasmModule = undefined;
  });
  return wasmModule;
}

async function wasmZstd(level: number): Promise<BlockCodec> {
  let mod: WasmZstd;
  try {
    mod = await wasmInstance();
  } catch (err) {
    throw new CodecUnavailableError(
      `zstd: node:zlib has no zstd in Node.js ${process.version} and @bokuweb/zstd-wasm could not load its .wasm ` +
        `(${err instanceof Error ? err.message : String(err)})`,
      { cause: err },
    );
  }
  const { compress, decompress } = mod;
  return {
    name: 'ZSTD',
    implementation: 'wasm',
    compress: (input) => compress(input, level),
    decompress: (input, outputLength) => checked(decompress(input), outputLength),
  };
}

function checked(out: Uint8Array, expected: number): Uint8Array {
  if (out.length !== expected) {
    throw new RangeError(`zstd: page inflated to ${out.length} bytes, header says ${expected}`);
  }
  return out;
}

/**
 * Decompresses a zstd body of unknown size (an HTTP request's `Content-Encoding: zstd`), refusing
 * (ZstdTooLargeError) one that would inflate beyond `maxOutputLength` before any of it is
 * allocated: native zstd stops at the limit; the WebAssembly fallback is given the first frame's
 * declared size only when it is within the limit, else a buffer of the limit (a longer frame
 * then fails to decode). Any other malformed input is a RangeError.
 */
export async function decompressZstdBounded(input: Uint8Array, maxOutputLength: number): Promise<Uint8Array> {
  if (hasNativeZstd()) {
    try {
      return (zlib as unknown as NativeZstd).zstdDecompressSync(input, { maxOutputLength });
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw new ZstdTooLargeError(`zstd body inflates to more than ${maxOutputLength} bytes`);
      throw new RangeError(`not a valid zstd frame: ${(err as Error).message}`);
    }
  }
  const declared = zstdFrameContentSize(input);
  if (declared !== undefined && declared > maxOutputLength) throw new ZstdTooLargeError(`zstd body declares ${declared} bytes, more than ${maxOutputLength}`);
  const mod = await wasmInstance();
  let out: Uint8Array;
  try {
    out = mod.decompress(input, { defaultHeapSize: maxOutputLength });
  } catch (err) {
    throw new RangeError(`not a valid zstd frame, or it inflates to more than ${maxOutputLength} bytes: ${(err as Error).message}`);
  }
  if (out.length > maxOutputLength) throw new ZstdTooLargeError(`zstd body inflates to more than ${maxOutputLength} bytes`);
  return out;
}

export class ZstdTooLargeError extends StreamfoldError {}

/**
 * The Frame_Content_Size of the first zstd frame (RFC 8878 §3.1.1.1), undefined when the frame
 * does not declare it. Throws a RangeError when `b` does not start with a zstd frame header.
 */
export function zstdFrameContentSize(b: Uint8Array): number | undefined {
  if (b.length < 5 || b[0] !== 0x28 || b[1] !== 0xb5 || b[2] !== 0x2f || b[3] !== 0xfd) throw new RangeError('not a zstd frame (magic number 28 B5 2F FD expected)');
  const fhd = b[4]!;
  const fcsFlag = fhd >> 6;
  const single = (fhd >> 5) & 1;
  const dictFlag = fhd & 3;
  let pos = 5 + (single ? 0 : 1) + [0, 1, 2, 4][dictFlag]!;
  const size = fcsFlag === 0 ? (single ? 1 : 0) : [0, 2, 4, 8][fcsFlag]!;
  if (size === 0) return undefined;
  if (b.length < pos + size) throw new RangeError('truncated zstd frame header');
  let v = 0;
  for (let i = size - 1; i >= 0; i--) v = v * 256 + b[pos + i]!;
  pos += size;
  return size === 2 ? v + 256 : v;
}
