/// <reference types="node" />
// Types of pompelmi/testing: mock scanners for an application's own tests.
import pompelmi = require('../../index.js')

declare namespace pompelmiTesting {
  interface MockScannerOptions {
    /** What every scan gives unless byName or byContent decides. Default `Verdict.Clean`. */
    verdict?: pompelmi.VerdictValue
    /** File name → Verdict (an object, or a function returning a Verdict or undefined); asked first. */
    byName?: Record<string, pompelmi.VerdictValue> | ((name: string) => pompelmi.VerdictValue | undefined)
    /** The bytes → a Verdict or undefined; asked after byName. */
    byContent?: (bytes: Buffer) => pompelmi.VerdictValue | undefined
    /** The virus name of a Malicious report. Default `'Mock-Test-Signature'`. */
    virusName?: string
    /** The reason of a ScanError report. Default `'clamd-error'`. */
    reason?: pompelmi.ScanErrorReason
  }
  interface MockScanner {
    scan(filePath: string, options?: unknown): Promise<pompelmi.VerdictValue>
    scanBuffer(buffer: pompelmi.BufferInput, options?: unknown): Promise<pompelmi.VerdictValue>
    scanStream(stream: pompelmi.StreamInput, options?: unknown): Promise<pompelmi.VerdictValue>
    scanBlob(blob: Blob, options?: unknown): Promise<pompelmi.VerdictValue>
    scanFormData(formData: FormData, options?: unknown): Promise<pompelmi.FormDataReport>
    inspect(filePath: string, options?: unknown): Promise<pompelmi.ScanReport>
    inspectBuffer(buffer: pompelmi.BufferInput, options?: unknown): Promise<pompelmi.ScanReport>
    inspectStream(stream: pompelmi.StreamInput, options?: unknown): Promise<pompelmi.ScanReport>
    inspectBlob(blob: Blob, options?: unknown): Promise<pompelmi.ScanReport>
    inspectFormData(formData: FormData, options?: unknown): Promise<pompelmi.FormDataReport>
    /** The Express middleware over this mock. */
    middleware: typeof pompelmi.middleware
    readonly Verdict: typeof pompelmi.Verdict
    /** Every call: its function, the file name when known, the bytes read. */
    readonly calls: Array<{ fn: string; name?: string; bytes: number }>
  }
  function createMockScanner(options?: MockScannerOptions): MockScanner
  function mockClean(): MockScanner
  function mockInfected(virusName?: string): MockScanner
  function mockScanError(reason?: pompelmi.ScanErrorReason): MockScanner
  const Verdict: typeof pompelmi.Verdict
}

export = pompelmiTesting
