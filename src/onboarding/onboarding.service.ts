import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { UserIdentity } from '../users/user-identity.cache.js';
import type { User } from '../users/user.entity.js';
import { UsersService, type Identified } from '../users/users.service.js';
import { LedgerService } from '../wallet/ledger.service.js';

/**
 * Registering a subscriber: the user and their wallet, in one transaction, so every subscriber has
 * a wallet from the start. It sits above users and wallet, which know nothing of each other.
 */
@Injectable()
export class OnboardingService {
  constructor(
    private readonly users: UsersService,
    private readonly ledger: LedgerService,
  ) {}

  private readonly openWallet = (manager: EntityManager, userId: string) => this.ledger.openWallet(manager, userId);

  /** The subscriber behind a number, registered (with a wallet) on first contact. */
  register(phoneNumber: string, manager?: EntityManager): Promise<User> {
    return this.users.findOrRegister(phoneNumber, manager, this.openWallet);
  }

  /**
   * As UsersService.identify (the cached identity first, unless the caller read it already),
   * registering with a wallet on first contact.
   */
  identify(phoneNumber: string, cached?: UserIdentity | null): Promise<Identified> {
    return this.users.identify(phoneNumber, this.openWallet, cached);
  }
}
