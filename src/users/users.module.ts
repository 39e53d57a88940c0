import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { NotificationsModule } from '../notifications/notifications.module.js';
import { PinLockout } from './pin-lockout.js';
import { User } from './user.entity.js';
import { UsersService } from './users.service.js';

@Module({
  imports: [TypeOrmModule.forFeature([User]), NotificationsModule],
  providers: [UsersService, PinLockout],
  exports: [UsersService],
})
export class UsersModule {}
