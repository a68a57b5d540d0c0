'use strict'
// pompelmi 1.x's input errors, with its exact messages, each with a fixed `code` (1.x had none;
// every rejection here carries one). Shaped in this one place.

function coded(message, code) {
  const err = new Error(message)
  err.code = code
  return err
}

/** This package's own argument-type errors are TypeErrors, like Node's. */
function typeError(message) {
  const err = new TypeError(message)
  err.code = 'ERR_INVALID_ARG_TYPE'
  return err
}

module.exports = {
  coded,
  notAString: (name) => coded(`${name} must be a string`, 'ERR_INVALID_ARG_TYPE'),
  fileNotFound: (file) => coded(`File not found: ${file}`, 'ENOENT'),
  directoryNotFound: (dir) => coded(`Directory not found: ${dir}`, 'ENOENT'),
  notABuffer: () => coded('buffer must be a Buffer', 'ERR_INVALID_ARG_TYPE'),
  emptyBuffer: () => coded('buffer is empty', 'ERR_INVALID_ARG_VALUE'),
  notAReadable: () => coded('stream must be a Readable', 'ERR_INVALID_ARG_TYPE'),
  notABlob: () => typeError('blob must be a Blob'),
  notAFormData: () => typeError('formData must be a FormData'),
  streamDestroyed: () => coded('stream was destroyed before it was scanned: its bytes cannot all be read', 'ERR_STREAM_DESTROYED'),
  streamConsumed: () => coded('stream was already read or has ended: its bytes cannot all be scanned', 'ERR_STREAM_ALREADY_FINISHED'),
}
