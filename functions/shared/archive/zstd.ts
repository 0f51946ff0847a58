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
