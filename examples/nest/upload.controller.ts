// NestJS 12 + @nestjs/platform-express + pompelmi/nest: every uploaded file is scanned before the
// handler runs; 403 for a malicious file, 422 when one cannot be scanned.
import { Controller, ParseFilePipe, Post, Req, UploadedFile, UseInterceptors } from '@nestjs/common'
import { AnyFilesInterceptor, FileInterceptor } from '@nestjs/platform-express'
import { ClamavInterceptor, ClamavValidator } from 'pompelmi/nest'

const clamd = process.env.CLAMAV_SOCKET ? { socket: process.env.CLAMAV_SOCKET } : { host: process.env.CLAMAV_HOST || '127.0.0.1', port: Number(process.env.CLAMAV_PORT) || 3310 }

@Controller()
export class UploadController {
  // Every file of every field: the interceptor scans them after multer.
  @Post('upload')
  @UseInterceptors(AnyFilesInterceptor(), new ClamavInterceptor(clamd))
  upload(@Req() req: { pompelmi: { verdict: symbol; files: Array<{ originalname?: string }> } }) {
    return { verdict: req.pompelmi.verdict.description, files: req.pompelmi.files.map((f) => f.originalname) }
  }

  // One file through a plain ParseFilePipe: the validator throws the 403/422 itself.
  @Post('avatar')
  @UseInterceptors(FileInterceptor('file'))
  avatar(@UploadedFile(new ParseFilePipe({ validators: [new ClamavValidator(clamd)] })) file: { originalname: string; size: number }) {
    return { stored: file.originalname, size: file.size }
  }
}
