/// <reference types="node" />
// Hand-written types. The package is CommonJS (`module.exports = { … }`), so they are declared with
// `export =`: `require('pompelmi')`, `import pompelmi from 'pompelmi'` and
// `import { scan, Verdict } from 'pompelmi'` all resolve to these, under every moduleResolution.
import type { Readable, Duplex } from 'node:stream'
import type { EventEmitter } from 'node:events'
import type { FSWatcher } from 'node:fs'

declare namespace pompelmi {
  /** The three possible verdicts: plain Symbols, compared with `===`. */
  const Verdict: {
    readonly Clean: unique symbol
    readonly Malicious: unique symbol
    readonly ScanError: unique symbol
  }
  type VerdictValue = (typeof Verdict)[keyof typeof Verdict]

  /**
   * Every `code` this package's errors carry (the registry is `lib/core/codes.js`); Node's own
   * codes keep Node's meaning. TLS alerts the server sends are `ERR_SSL_TLSV1_ALERT_<NAME>`.
   */
  type ErrorCode =
    | 'ERR_INVALID_ARG_TYPE'
    | 'ERR_INVALID_ARG_VALUE'
    | 'ERR_SOCKET_BAD_PORT'
    | 'ERR_INVALID_URL'
    | 'ENOENT'
    | 'ENOTDIR'
    | 'ERR_STREAM_ALREADY_FINISHED'
    | 'ERR_STREAM_DESTROYED'
    | 'ERR_SOURCE_FAILED'
    | 'ERR_INVALID_UPLOAD'
    | 'ERR_INVALID_FORM'
    | 'ERR_FILE_CHANGED'
    | 'ERR_UNREPRESENTABLE_NAME'
    | 'ERR_WALK'
    | 'ECONNREFUSED'
    | 'ECONNRESET'
    | 'ECONNABORTED'
    | 'EPIPE'
    | 'ETIMEDOUT'
    | 'ENOTFOUND'
    | 'EACCES'
    | 'EPERM'
    | 'EHOSTUNREACH'
    | 'ENETUNREACH'
    | 'EADDRNOTAVAIL'
    | 'EAGAIN'
    | 'EINVAL'
    | 'EISDIR'
    | 'ELOOP'
    | 'EMFILE'
    | 'ENFILE'
    | 'ENAMETOOLONG'
    | 'ENOTSOCK'
    | 'ENXIO'
    | 'EPROTOTYPE'
    | 'EIO'
    | 'ERR_CLAMD_PROTOCOL'
    | 'ERR_CLAMD_QUEUE_TIMEOUT'
    | 'ERR_CLAMD_SESSION_CLOSED'
    | 'ERR_NO_CLAMD'
    | 'ERR_CLIENT_CLOSED'
    | 'ERR_POOL_DESTROYED'
    | 'ABORT_ERR'
    | 'ERR_INTERNAL'
    | 'ERR_TLS_CERT_ALTNAME_INVALID'
    | 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'
    | 'DEPTH_ZERO_SELF_SIGNED_CERT'
    | 'CERT_HAS_EXPIRED'
    | 'CERT_NOT_YET_VALID'
    | 'CERT_REVOKED'
    | 'CERT_SIGNATURE_FAILURE'
    | 'ERR_SSL_WRONG_VERSION_NUMBER'
    | 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED'
    | 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE'
    | 'ERR_SSL_UNSUPPORTED_PROTOCOL'
    | 'ERR_SSL_PROTOCOL_ERROR'
    | 'ERR_CLAMSCAN_EXIT'
    | 'ERR_CLAMSCAN_SIGNAL'
    | 'ERR_MALICIOUS_UPLOAD'
    | 'ERR_SCAN_FAILED'
    | 'ERR_VIRUSTOTAL_HTTP'
    | 'ERR_VIRUSTOTAL_NO_KEY'
    | 'ERR_VIRUSTOTAL_PENDING'
    | 'ERR_VIRUSTOTAL_REPLY'
    | 'ERR_WEBHOOK_STATUS'
    | 'ERR_POMPELMI_NO_BINARY'
    | 'MODULE_NOT_FOUND'
    | `ERR_SSL_TLSV1_ALERT_${string}`

  /**
   * TLS to a TCP endpoint (clamd behind a TLS terminator such as stunnel or HAProxy), as Node's
   * `tls` takes it: PEM as strings or Buffers. Without `ca`, the system's CAs (on Linux
   * `SSL_CERT_FILE`/`SSL_CERT_DIR` are honoured).
   */
  interface TlsOptions {
    ca?: string | Buffer | Array<string | Buffer>
    /** The client certificate chain, for mutual TLS (with `key`). */
    cert?: string | Buffer | Array<string | Buffer>
    key?: string | Buffer | Array<string | Buffer>
    /** The name the certificate must carry (and SNI). Default: the host. */
    servername?: string
    /** `false` accepts any certificate (still encrypted). Default `true`. */
    rejectUnauthorized?: boolean
  }

  /**
   * A clamd endpoint: `{ host, port, tls, discover }`, `{ socket }`, `'tcp://host:port'`,
   * `'tls://host:port'` (TLS with the system's CAs), `'dns+tcp://name:port'` /
   * `'dns+tls://name:port'` (every address of the name, see `discover`), `'dns+srv://name'` (the
   * targets of its `_clamd._tcp` SRV records) or `'unix:/path'`.
   */
  type Endpoint = { host?: string; port?: number | string; tls?: boolean | TlsOptions; discover?: boolean | 'srv' } | { socket: string } | string

  interface ConnectionOptions {
    /** clamd TCP host; its presence selects clamd mode. Default `'127.0.0.1'`. */
    host?: string | null
    /** clamd TCP port; its presence alone selects clamd mode on 127.0.0.1. Default `3310`. */
    port?: number | string | null
    /** clamd UNIX socket path; when truthy it wins over host/port. */
    socket?: string | null
    /** Several clamd instances; calls go to the healthy one with the fewest outstanding requests. */
    endpoints?: Endpoint[]
    /**
     * TLS to `host`/`port`: `true` (the system's CAs) or the settings. With `socket`, without
     * clamd (local mode), or beside `endpoints` (each endpoint has its own), it rejects
     * `ERR_INVALID_ARG_VALUE`. Failures carry Node's TLS codes (`ERR_TLS_CERT_ALTNAME_INVALID`,
     * `UNABLE_TO_VERIFY_LEAF_SIGNATURE`, `DEPTH_ZERO_SELF_SIGNED_CERT`, `CERT_HAS_EXPIRED`, …).
     */
    tls?: boolean | TlsOptions
    /**
     * Discovery: `host` is a name whose every A and AAAA address is an endpoint of its own (the
     * replicas behind a Kubernetes headless Service), named by its address. Re-resolved every
     * `discoverInterval` ms, and at once (at most once a second) when all of them are down; new
     * addresses join, vanished ones drain. A name that does not resolve rejects `ENOTFOUND`; a
     * resolver failing later keeps the addresses known. `'srv'`: the targets of the name's
     * `_clamd._tcp` SRV records instead, each address with its record's port. Default `false`.
     */
    discover?: boolean | 'srv'
    /** Nameservers for discovered names, as `'ip:port'` (`'[::1]:53'`). Default: the system resolver. */
    resolver?: string[]
    /** How often discovered names are resolved again, in ms (at least 1000). Default `30000`. */
    discoverInterval?: number
    /**
     * clamd mode: idle timeout in ms (each write, and the wait for a reply, restarted by every
     * byte clamd sends). Default `15000`. Local mode: the longest a clamscan run may take.
     * Default `120000`. `0` disables it.
     */
    timeout?: number
    /** Deadline for opening a connection, in ms. Default `5000`; `0` disables it. */
    connectTimeout?: number
    /**
     * The longest a call waits for a request slot or its turn in a session, in ms; then it
     * rejects `ERR_CLAMD_QUEUE_TIMEOUT`, never sent. Default: `timeout`; `0` disables it.
     */
    queueTimeout?: number
    /** Extra attempts after a connection failure, reset or timeout. Default `0`. */
    retries?: number
    /** Fixed delay between attempts in ms. Default `1000`. */
    retryDelay?: number
    /** Connections per endpoint, each pipelining up to 8 requests. Default `4`. */
    maxConnections?: number
    /** Pass regular files to UNIX-socket endpoints as descriptors (FILDES). Default `true`. */
    fdpass?: boolean
    /**
     * A connection older than this many ms takes no new request and closes once its requests
     * are answered, so that load moves onto new clamd replicas behind a Service or load balancer.
     * Default `300000` (5 minutes); `0` keeps connections for good.
     */
    maxConnectionAge?: number
    /** Local mode only: signature directory passed to clamscan as `--database=<dir>`. */
    database?: string
    /**
     * Payloads larger than this many bytes are ScanError `'too-large'` and are not sent (a stream
     * is cut off there): clamd skips files over its `MaxFileSize` and answers OK. Default
     * `104857600` (100 MiB, clamd's default); `0` turns the guard off.
     */
    maxFileSize?: number
  }

  interface ScanOptions extends ConnectionOptions {
    /** Aborts the call: it rejects with an `AbortError` (`code: 'ABORT_ERR'`). */
    signal?: AbortSignal
  }

  /** Per-call options of a client's methods. */
  interface CallOptions {
    signal?: AbortSignal
    /** Reply timeout of this call in ms, from when the request is sent. */
    timeout?: number
  }

  interface DirectoryScanOptions extends ScanOptions {
    /** Files scanned at once. Default 8 in clamd mode, 1 in local mode. */
    concurrency?: number
    /** Follow symlinks that lead out of the directory. Default `false` (they land in `errors`). */
    followSymlinks?: boolean
  }

  interface DirectoryScanResult {
    clean: string[]
    malicious: string[]
    errors: string[]
    /** Not enumerable: why a path in `errors` could not be walked. */
    readonly reasons?: Record<string, 'symlink-outside' | 'unreadable'>
  }

  interface ScanProgressEvent {
    type: 'progress'
    scanned: number
    total: number
    file: string
  }
  interface ScanResultEvent {
    type: 'result'
    file: string
    verdict: VerdictValue | null
    /** The file's report, or null when its scan failed or it could not be walked. */
    report: ScanReport | null
    /** What the file's scan rejected with, or null. */
    error: Error | null
    /** For a path that could not be walked. */
    reason?: 'symlink-outside' | 'unrepresentable-name' | 'unreadable'
  }
  interface ScanCompleteEvent {
    type: 'complete'
    summary: DirectoryScanResult
  }
  type DirectoryScanEvent = ScanProgressEvent | ScanResultEvent | ScanCompleteEvent

  /**
   * Why a scan is a ScanError: `'size-limit'` (over clamd's StreamMaxLength), `'too-large'` (over
   * `maxFileSize`, not sent), `'limits-exceeded'` (clamd's `Heuristics.Limits.Exceeded.*` alert:
   * not everything was scanned), `'clamd-error'` (another error clamd reported) or
   * `'unexpected-reply'` (a reply that is none of clamd's, or not of the request's kind).
   */
  type ScanErrorReason = 'size-limit' | 'too-large' | 'limits-exceeded' | 'clamd-error' | 'unexpected-reply'

  /** What `inspect*` resolve: the verdict and what led to it. */
  interface ScanReport {
    verdict: VerdictValue
    /** Signature names, e.g. `['Eicar-Test-Signature']`; empty unless Malicious. */
    viruses: string[]
    /** clamd's reply without session id and NUL (`stream: OK`, `fd[12]: X FOUND`), or clamscan's output. */
    reply: string
    /** Why a ScanError; null otherwise. */
    reason: ScanErrorReason | null
    /** For `'limits-exceeded'`: the clamd limit, e.g. `'MaxFileSize'`, `'MaxScanSize'`; null otherwise. */
    limit: string | null
    /** `tcp://host:port`, `tls://host:port`, `unix:/path` or `clamscan`; null when nothing was sent (`'too-large'`). */
    endpoint: string | null
    /** Payload bytes clamd received (the file size for a descriptor); 0 when nothing was sent. */
    bytes: number
    durationMs: number
  }

  /** Bytes to scan: a Buffer, any Uint8Array or other ArrayBufferView, an ArrayBuffer or SharedArrayBuffer. */
  type BufferInput = ArrayBufferView | ArrayBuffer | SharedArrayBuffer
  /**
   * A stream to scan: a Node Readable, a web ReadableStream of bytes (a `fetch` body), or any
   * (async) iterable of Uint8Array or string chunks (an async generator, a generator, an array).
   * A string is not a stream (nor is a Buffer: it is a payload).
   */
  type StreamInput =
    | Readable
    | ReadableStream<Uint8Array>
    | AsyncIterable<Uint8Array | string>
    | Generator<Uint8Array | string>
    | ReadonlyArray<Uint8Array | string>

  /** One File entry of a scanned FormData. */
  interface FormDataFileReport {
    field: string
    name: string
    type: string
    size: number
    /** A failed scan is a ScanError report whose `reason` is the error's `code`. */
    report: ScanReport
  }
  /** What `scanFormData`/`inspectFormData` resolve. `verdict`: Malicious over ScanError over Clean. */
  interface FormDataReport {
    verdict: VerdictValue
    files: FormDataFileReport[]
  }

  /**
   * The scanning tee (`passthrough()`): bytes written flow on unchanged while clamd scans them; the
   * last chunk and the end are released only after clamd's Clean. Anything else destroys it with
   * a `MaliciousUploadError` or a `ScanFailedError`.
   */
  interface ScanningTee extends Duplex {
    /** The report whenever clamd answered; rejects with the tee's error otherwise. Never unhandled. */
    readonly report: Promise<ScanReport>
  }

  /** clamd found the upload malicious (the tee, the multer storage engine). */
  class MaliciousUploadError extends Error {
    readonly name: 'MaliciousUploadError'
    readonly code: 'ERR_MALICIOUS_UPLOAD'
    readonly status: 403
    readonly statusCode: 403
    readonly report: ScanReport
  }
  /** The upload could not be shown clean: `report` when clamd answered ScanError, `cause` when the scan failed. */
  class ScanFailedError extends Error {
    readonly name: 'ScanFailedError'
    readonly code: 'ERR_SCAN_FAILED'
    readonly status: 422
    readonly statusCode: 422
    readonly report?: ScanReport
  }

  function scan(filePath: string, options?: ScanOptions | null): Promise<VerdictValue>
  function scanBuffer(buffer: BufferInput, options?: ScanOptions | null): Promise<VerdictValue>
  function scanStream(stream: StreamInput, options?: ScanOptions | null): Promise<VerdictValue>
  function scanBlob(blob: Blob, options?: ScanOptions | null): Promise<VerdictValue>
  function scanFormData(formData: FormData, options?: ScanOptions | null): Promise<FormDataReport>
  function inspect(filePath: string, options?: ScanOptions | null): Promise<ScanReport>
  function inspectBuffer(buffer: BufferInput, options?: ScanOptions | null): Promise<ScanReport>
  function inspectStream(stream: StreamInput, options?: ScanOptions | null): Promise<ScanReport>
  function inspectBlob(blob: Blob, options?: ScanOptions | null): Promise<ScanReport>
  function inspectFormData(formData: FormData, options?: ScanOptions | null): Promise<FormDataReport>
  /** A scanning tee on the shared client for `options`; bad options throw. */
  function passthrough(options?: ScanOptions | null): ScanningTee
  /** Resolves `true` once clamd answers PING. */
  function ping(options?: ConnectionOptions | null): Promise<true>
  /** clamd's VERSION text. */
  function version(options?: ConnectionOptions | null): Promise<string>
  /** clamd's STATS text. */
  function stats(options?: ConnectionOptions | null): Promise<string>
  /** Waits until clamd answers PING: `timeout` is the total wait (default 30000), `interval` between tries (default 500). */
  function ready(options?: (Omit<ConnectionOptions, 'timeout'> & { timeout?: number; interval?: number }) | null): Promise<true>

  const scanDirectory: {
    (dirPath: string, options?: DirectoryScanOptions | null): Promise<DirectoryScanResult>
    stream(dirPath: string, options?: DirectoryScanOptions | null): AsyncGenerator<DirectoryScanEvent, void, void>
  }

  /** One endpoint in `metrics()`. */
  interface EndpointMetrics {
    /** `tcp://host:port`, `tls://host:port` or `unix:/path` (a discovered endpoint by its address). */
    endpoint: string
    /** `draining`: discovery no longer lists it; its requests finish, it takes no new ones. */
    state: 'up' | 'down' | 'draining'
    sessions: number
    /** Requests sent or being sent. */
    inFlight: number
    /** Calls waiting for a request slot. */
    queued: number
    /** clamd's VERSION text (fetched in the background at most once a minute; null until then). */
    version: string | null
    /** The signature database's number and date, from VERSION (null when clamd does not say). */
    databaseVersion: number | null
    databaseDate: string | null
  }
  /** What `client.metrics()` returns (clamd mode; null in local mode). */
  interface ClientMetrics {
    endpoints: EndpointMetrics[]
    scans: { clean: number; malicious: number; scanError: number; failed: number; byReason: Record<ScanErrorReason, number> }
    /** Payload bytes clamd received. */
    bytes: number
    /** Scan durations: `counts[i]` calls took at most `boundsMs[i]` (and more than the bound before); the last count is past every bound. */
    latency: { boundsMs: readonly number[]; counts: number[]; count: number; sumMs: number }
  }

  /**
   * The context of a `pompelmi:scan` trace (node:diagnostics_channel TracingChannel), filled in
   * when the scan ends.
   */
  interface ScanTraceContext {
    kind: 'file' | 'buffer' | 'stream'
    endpoint: string | null
    bytes: number
    verdict: VerdictValue | null
    reason: ScanErrorReason | null
    viruses: string[]
    durationMs: number
    /** 1 for the first attempt. */
    attempt: number
    /** Set by diagnostics_channel when the call rejects. */
    error?: Error
  }

  /** Pooled IDSESSION connections to one or more clamd instances (or local clamscan without endpoint). */
  class Client {
    constructor(options?: ConnectionOptions | null)
    scan(filePath: string, options?: CallOptions | null): Promise<VerdictValue>
    scanBuffer(buffer: BufferInput, options?: CallOptions | null): Promise<VerdictValue>
    scanStream(stream: StreamInput, options?: CallOptions | null): Promise<VerdictValue>
    scanBlob(blob: Blob, options?: CallOptions | null): Promise<VerdictValue>
    scanFormData(formData: FormData, options?: CallOptions | null): Promise<FormDataReport>
    inspect(filePath: string, options?: CallOptions | null): Promise<ScanReport>
    inspectBuffer(buffer: BufferInput, options?: CallOptions | null): Promise<ScanReport>
    inspectStream(stream: StreamInput, options?: CallOptions | null): Promise<ScanReport>
    inspectBlob(blob: Blob, options?: CallOptions | null): Promise<ScanReport>
    inspectFormData(formData: FormData, options?: CallOptions | null): Promise<FormDataReport>
    /** A scanning tee on this client; bad options throw. */
    passthrough(options?: CallOptions | null): ScanningTee
    ping(): Promise<true>
    version(): Promise<string>
    stats(): Promise<string>
    ready(options?: { timeout?: number; interval?: number } | null): Promise<true>
    /** Counters and endpoint states now (synchronous); null in local mode. */
    metrics(): ClientMetrics | null
    /** Closes every connection; calls in flight reject (`ERR_CLIENT_CLOSED`). */
    close(): Promise<void>
  }
  function createClient(options?: ConnectionOptions | null): Client

  interface PoolOptions {
    host?: string
    port?: number
    socket?: string
    /** Connections. Default `5`. */
    size?: number
    /** Idle timeout of each scan in ms. Default `15000`. */
    timeout?: number
    /** The size guard, as in `ConnectionOptions`. Default 100 MiB. */
    maxFileSize?: number
    /** As in `ConnectionOptions`. Default 5 minutes. */
    maxConnectionAge?: number
    /** As in `ConnectionOptions`. */
    tls?: boolean | TlsOptions
    discover?: boolean | 'srv'
    resolver?: string[]
    discoverInterval?: number
  }
  interface ClamdPool {
    scan(filePath: string, options?: CallOptions | null): Promise<VerdictValue>
    scanBuffer(buffer: BufferInput, options?: CallOptions | null): Promise<VerdictValue>
    scanStream(stream: StreamInput, options?: CallOptions | null): Promise<VerdictValue>
    scanBlob(blob: Blob, options?: CallOptions | null): Promise<VerdictValue>
    scanFormData(formData: FormData, options?: CallOptions | null): Promise<FormDataReport>
    inspect(filePath: string, options?: CallOptions | null): Promise<ScanReport>
    inspectBuffer(buffer: BufferInput, options?: CallOptions | null): Promise<ScanReport>
    inspectStream(stream: StreamInput, options?: CallOptions | null): Promise<ScanReport>
    inspectBlob(blob: Blob, options?: CallOptions | null): Promise<ScanReport>
    inspectFormData(formData: FormData, options?: CallOptions | null): Promise<FormDataReport>
    passthrough(options?: CallOptions | null): ScanningTee
    metrics(): ClientMetrics | null
    /** Rejects queued and in-flight calls with `Pool destroyed`; resolves once every connection is closed. */
    destroy(): Promise<void>
  }
  function createPool(options?: PoolOptions | null): ClamdPool

  interface MiddlewareOptions extends ScanOptions {
    /** The `req.files` field to scan when multer gives a fields object. Default `'file'`. */
    uploadField?: string
    /** What a ScanError or a failed scan does: `'reject'` answers 422 (default), `'next'` calls `next(err)`. */
    onScanError?: 'reject' | 'next'
  }
  interface MiddlewareResult {
    verdict: VerdictValue
    files: Array<{ fieldname?: string; originalname?: string; report?: ScanReport; error?: Error }>
  }
  /** Express middleware after multer: 403 on Malicious, 422 (or `next(err)`) when a scan fails; sets `req.pompelmi`. */
  function middleware(options?: MiddlewareOptions | null): (req: any, res: any, next: (err?: unknown) => void) => Promise<void>
  // --- the rest of pompelmi 1.x's exports ---

  interface CacheOptions {
    /** Entry lifetime in ms. Default 3600000. */
    ttl?: number
    /** Entries kept (least recently used evicted first). Default 1000. */
    maxSize?: number
    storage?: 'memory' | 'file'
    /** Where `storage: 'file'` keeps the cache. Default `./.pompelmi-cache.json`. */
    filePath?: string
    /** How often (ms) the signature version in the key is looked up again. Default 60000. */
    signatureCheckInterval?: number
  }
  interface CacheStats {
    hits: number
    misses: number
    size: number
    hitRate: number
  }
  interface ScanCache {
    scan(filePath: string, options?: ScanOptions | null): Promise<VerdictValue>
    scanBuffer(buffer: Buffer, options?: ScanOptions | null): Promise<VerdictValue>
    stats(): CacheStats
    clear(): void
    /** Removes every entry for this content hash; true if one existed. */
    delete(sha256: string): boolean
    /** Writes a file cache now instead of 500 ms after the last change. */
    flush(): void
  }
  /** Verdicts cached by content hash and connection options; ScanError is never cached. */
  function createCache(options?: CacheOptions | null): ScanCache

  interface PolicyRules {
    /** Connection options for the scan; no scan without them. */
    scan?: ScanOptions | null
    maxSize?: number | null
    allowedMimeTypes?: string[] | null
    /** Lower-case extensions with the dot, e.g. `['.pdf']`. */
    allowedExtensions?: string[] | null
    rejectEncrypted?: boolean
    onScannerUnavailable?: 'reject' | 'allow' | 'throw'
    /** Allow a ScanError verdict (1.x allowed it silently). Default false. */
    allowScanError?: boolean
    /** With `allowedMimeTypes`, allow an upload whose type is unknown. Default false (refused). */
    allowUnknownMimeType?: boolean
  }
  interface FileMeta {
    filename?: string
    mimeType?: string | null
    size?: number
  }
  type PolicyReason =
    | 'file_too_large'
    | 'mime_not_allowed'
    | 'extension_not_allowed'
    | 'encrypted_archive'
    | 'virus_detected'
    | 'scan_error'
    | 'scanner_unavailable'
  interface PolicyResult {
    allowed: boolean
    reason: PolicyReason | null
    verdict: VerdictValue | null
    details: { size: number; mimeType: string | null; extension: string | null; virusName: string | null }
  }
  interface ScanPolicy {
    check(buffer: Buffer, meta?: FileMeta | null): Promise<PolicyResult>
    middleware(): (req: any, res: any, next: (err?: unknown) => void) => Promise<void>
    nestGuard(): { canActivate(context: any): Promise<boolean> }
  }
  function createPolicy(rules?: PolicyRules | null): ScanPolicy

  interface WatchOptions extends ScanOptions {
    /** Where malicious files are moved, with a JSON sidecar. */
    quarantine?: string
  }
  interface WatchCallbacks {
    onClean?(path: string, report: ScanReport): void
    onMalicious?(path: string, viruses: string[], quarantinedTo: string | null): void
    onError?(err: Error, path: string): void
  }
  function watch(dirPath: string, options?: WatchOptions | null, callbacks?: WatchCallbacks | null): FSWatcher

  /** Emits 'clean'(path), 'malicious'(path, viruses), 'scanError'(path, report), 'error'(err, path), 'complete'(dir). */
  interface ScanEmitter extends EventEmitter {
    scan(filePath: string): void
    scanDirectory(dirPath: string): void
  }
  function createScanner(options?: ScanOptions | null): ScanEmitter

  interface ScanResultInput {
    file?: string
    verdict: VerdictValue | string
    viruses?: string[]
  }
  interface NotifyOptions {
    /** Send only Malicious results. Default true. */
    onlyOnMalicious?: boolean
    /** Signs the body: `X-Pompelmi-Signature: sha256=<hex HMAC-SHA256>`. */
    secret?: string
    /** Request timeout in ms. Default 10000. */
    timeout?: number
  }
  function notify(webhookUrl: string, scanResult: ScanResultInput, options?: NotifyOptions | null): Promise<void>

  interface S3Params {
    bucket: string
    key: string
    region?: string
    credentials?: unknown
    /** An S3Client (or anything with its send()); created from @aws-sdk/client-s3 when absent. */
    client?: { send(command: any): Promise<{ Body?: any }> }
  }
  function scanS3(params: S3Params, options?: ScanOptions | null): Promise<VerdictValue>

  interface ScanRow {
    file: string
    verdict: 'clean' | 'infected' | 'error'
    viruses?: string[]
  }
  interface DashboardOptions {
    elapsed?: number
    clamdVersion?: string
    host?: string
    port?: number
    socket?: string
    outputPath?: string
  }
  function generateDashboard(input: ScanRow[] | DirectoryScanResult, options?: DashboardOptions | null): string
  function generateShareCard(input: ScanRow[] | DirectoryScanResult, options?: { outputPath?: string } | null): string

  interface ScorecardConfig {
    scanEnabled?: boolean
    mimeTypeAllowlist?: string[]
    fileSizeLimit?: number
    diskWriteBeforeScan?: boolean
    scanErrorBehavior?: string
    clamdUnavailableBehavior?: string
    tlsEnabled?: boolean
  }
  interface ScorecardFinding {
    /** 1.x's label, e.g. `'Virus scanning enabled'`. */
    check: string
    status: 'pass' | 'fail'
    weight: number
    /** The config key checked, e.g. `'scanEnabled'` (an addition). */
    key: string
  }
  interface ScorecardResult {
    grade: 'A' | 'B' | 'C' | 'D' | 'F'
    score: number
    findings: ScorecardFinding[]
    recommendations: string[]
  }
  function generateScorecard(config?: ScorecardConfig | null): Promise<ScorecardResult>

  interface ClamAVEngineConfig extends ConnectionOptions {
    type: 'clamav'
    name?: string
  }
  /** Any other engine (an HTTP scanner, say): a name and a scanBuffer. */
  interface CustomEngine {
    name?: string
    /** This engine's deadline in ms; default the multi-engine's `timeout`. */
    timeout?: number
    scanBuffer(buffer: Buffer): Promise<{ verdict: VerdictValue; viruses?: string[] }>
  }
  /** VirusTotal (pompelmi 1.x's shape): uploads the file to a third party. */
  interface VirusTotalEngineConfig {
    type: 'virustotal'
    name?: string
    apiKey: string
    /** Malicious when `malicious + suspicious >= threshold`. Default 1. */
    threshold?: number
    /** Default `'https://www.virustotal.com'`. */
    baseUrl?: string
    /** Each HTTP request's timeout in ms. Default 30000. */
    timeout?: number
    /** Between analysis polls, in ms. Default 5000. */
    pollInterval?: number
    /** Analysis polls before giving up. Default 12. */
    maxPolls?: number
  }
  type EngineConfig = ClamAVEngineConfig | VirusTotalEngineConfig | CustomEngine
  interface EngineResult {
    name: string
    verdict: VerdictValue
    viruses: string[]
    endpoint?: string | null
    /** VirusTotal: `malicious + suspicious`. */
    detections?: number
    error?: string
  }
  interface MultiEngineResult {
    verdict: VerdictValue
    consensus: 'any' | 'all' | 'majority'
    viruses: string[]
    engines: EngineResult[]
  }
  interface MultiEngine {
    scan(filePath: string): Promise<MultiEngineResult>
    scanBuffer(buffer: Buffer): Promise<MultiEngineResult>
  }
  /** Throws when `engines` is empty. */
  /** `timeout` (default 120000, `0`: none) bounds every engine; a late one is its ScanError. */
  function createMultiEngine(options: { engines: EngineConfig[]; consensus?: 'any' | 'all' | 'majority'; timeout?: number }): MultiEngine
}

export = pompelmi
