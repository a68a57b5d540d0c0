// Types of pompelmi/nest (an ES module, as Nest 12 is).
import type { CallHandler, ExecutionContext, NestInterceptor } from '@nestjs/common'
import { FileValidator } from '@nestjs/common'
import type { Observable } from 'rxjs'
import type { ScanOptions } from '../../index.js'

/** A FileValidator for ParseFilePipe; isValid throws HttpException 403 or 422 itself. */
export declare class ClamavValidator extends FileValidator<ScanOptions> {
  constructor(options?: ScanOptions | null)
  isValid(file?: unknown): Promise<boolean>
  buildErrorMessage(): string
}

/** Scans every file multer put on the request; throws HttpException 403 or 422; sets `req.pompelmi`. */
export declare class ClamavInterceptor implements NestInterceptor {
  constructor(options?: ScanOptions | null)
  intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>>
}
