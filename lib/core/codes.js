'use strict'
// The one registry of the `code`s this package's errors carry: every code that lib/, bin/ and
// the native client can put on an error, with what it means. `index.d.ts`'s `ErrorCode` union
// lists the same codes, and `__test__/core.test.js` checks that the sources, this registry and
// the union agree. Node's own codes keep Node's meaning (ECONNREFUSED, ERR_INVALID_ARG_TYPE, …).

const CODES = Object.freeze({
  // Arguments and options (Node's codes)
  ERR_INVALID_ARG_TYPE: 'an argument of the wrong type (buffer must be a Buffer, blob must be a Blob, …)',
  ERR_INVALID_ARG_VALUE: 'an option or argument value that cannot be used (buffer is empty, a bad tls value, …)',
  ERR_SOCKET_BAD_PORT: 'a port that is not an integer from 1 to 65535',
  ERR_INVALID_URL: 'a webhook URL that does not parse',
  // Inputs
  ENOENT: 'a file or directory that does not exist',
  ENOTDIR: 'a path component that is not a directory',
  ERR_STREAM_ALREADY_FINISHED: 'a stream already read from or ended: its bytes cannot all be scanned',
  ERR_STREAM_DESTROYED: 'a stream destroyed before it was scanned',
  ERR_SOURCE_FAILED: 'the upload source failed while it was sent',
  ERR_INVALID_UPLOAD: 'a multer entry with neither buffer nor path',
  ERR_INVALID_FORM: 'a request body that is not a form (the Next.js and Hono adapters)',
  ERR_FILE_CHANGED: 'the path no longer names the file that was scanned (quarantine, --delete)',
  ERR_UNREPRESENTABLE_NAME: 'a directory entry whose name cannot be given to clamd',
  ERR_WALK: 'a directory walk that failed',
  // Connections and clamd (Node's socket and DNS codes)
  ECONNREFUSED: 'nothing listens at the endpoint',
  ECONNRESET: 'the connection was reset, or clamd closed it without a reply',
  ECONNABORTED: 'the connection was aborted',
  EPIPE: 'clamd closed the connection while data was written',
  ETIMEDOUT: 'no progress within `timeout` (or `connectTimeout`), or a source that gave no data',
  ENOTFOUND: 'a host name that does not resolve',
  EACCES: 'permission denied (a socket or a file)',
  EPERM: 'operation not permitted',
  EHOSTUNREACH: 'no route to the host',
  ENETUNREACH: 'no route to the network',
  EADDRNOTAVAIL: 'the address is not available',
  EAGAIN: 'a resource is temporarily unavailable',
  EINVAL: 'an invalid argument to a system call',
  EISDIR: 'a directory where a file was expected',
  ELOOP: 'too many symbolic links (or one refused)',
  EMFILE: 'too many open files in the process',
  ENFILE: 'too many open files on the system',
  ENAMETOOLONG: 'a name that is too long',
  ENOTSOCK: 'a socket path that is not a socket',
  ENXIO: 'no such device (a FIFO without a reader)',
  EPROTOTYPE: 'a socket of the wrong type',
  EIO: 'an I/O error',
  ERR_CLAMD_PROTOCOL: 'a reply that breaks clamd\'s protocol (not clamd, or a reply over 64 KiB)',
  ERR_CLAMD_QUEUE_TIMEOUT: 'the call waited `queueTimeout` for a request slot and was not sent',
  ERR_CLAMD_SESSION_CLOSED: 'the session was closed under the call',
  ERR_NO_CLAMD: 'a command (PING, VERSION, STATS) without a clamd endpoint (local mode)',
  ERR_CLIENT_CLOSED: 'a call on a closed client',
  ERR_POOL_DESTROYED: 'a call on a destroyed createPool() pool',
  ABORT_ERR: 'the call was aborted through its `signal`',
  ERR_INTERNAL: 'a failure that is a bug or an unsupported platform, never a verdict',
  // TLS (Node's codes for the same failures)
  ERR_TLS_CERT_ALTNAME_INVALID: 'the certificate does not name the host (or `servername`)',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'the certificate is not signed by a trusted CA',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'a self-signed certificate that is not trusted',
  CERT_HAS_EXPIRED: 'the certificate has expired',
  CERT_NOT_YET_VALID: 'the certificate is not valid yet',
  CERT_REVOKED: 'the certificate is revoked',
  CERT_SIGNATURE_FAILURE: 'the certificate\'s signature does not verify',
  ERR_SSL_WRONG_VERSION_NUMBER: 'the port does not speak TLS',
  ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: 'the server wanted a client certificate (mutual TLS)',
  ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE: 'the server refused the handshake',
  ERR_SSL_UNSUPPORTED_PROTOCOL: 'no TLS version or cipher in common',
  ERR_SSL_PROTOCOL_ERROR: 'another TLS protocol failure',
  // ERR_SSL_TLSV1_ALERT_<NAME>: another alert the server sent (OpenSSL's names)
  // Local mode (clamscan)
  ERR_CLAMSCAN_EXIT: 'clamscan exited with an unexpected code',
  ERR_CLAMSCAN_SIGNAL: 'clamscan was killed by a signal',
  // Uploads (the tee, the storage engine, the adapters)
  ERR_MALICIOUS_UPLOAD: 'clamd found the upload malicious (HTTP 403)',
  ERR_SCAN_FAILED: 'the upload could not be shown clean (HTTP 422)',
  // Features
  ERR_VIRUSTOTAL_HTTP: 'VirusTotal answered with an HTTP error',
  ERR_VIRUSTOTAL_NO_KEY: 'a VirusTotal engine without an API key',
  ERR_VIRUSTOTAL_PENDING: 'VirusTotal has not finished its analysis',
  ERR_VIRUSTOTAL_REPLY: 'a VirusTotal reply that cannot be read',
  ERR_WEBHOOK_STATUS: 'a webhook answered with a non-2xx status',
  ERR_POMPELMI_NO_BINARY: 'no native binary for this platform',
  MODULE_NOT_FOUND: 'an optional dependency that is not installed (the AWS SDK for scanS3)',
})

module.exports = { CODES }
