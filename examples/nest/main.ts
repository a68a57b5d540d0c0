import 'reflect-metadata'
import { Module } from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import { UploadController } from './upload.controller.js'

@Module({ controllers: [UploadController] })
export class AppModule {}

export async function createApp() {
  return NestFactory.create(AppModule, { logger: false })
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const app = await createApp()
  await app.listen(Number(process.env.PORT) || 3000)
}
