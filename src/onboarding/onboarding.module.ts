import { Module } from '@nestjs/common';
import { UsersModule } from '../users/users.module.js';
import { WalletModule } from '../wallet/wallet.module.js';
import { OnboardingService } from './onboarding.service.js';

/** First contact: a subscriber and their wallet, above the users and wallet modules. */
@Module({
  imports: [UsersModule, WalletModule],
  providers: [OnboardingService],
  exports: [OnboardingService],
})
export class OnboardingModule {}
