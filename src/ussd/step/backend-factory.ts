import { Injectable } from '@nestjs/common';
import { LoansService } from '../../loans/loans.service.js';
import { WithdrawalService } from '../../mpesa/withdrawal.service.js';
import { TopUpService } from '../../mpesa/top-up.service.js';
import { OnboardingService } from '../../onboarding/onboarding.service.js';
import { UsersService } from '../../users/users.service.js';
import { WalletService } from '../../wallet/wallet.service.js';
import { OfflineBackend } from '../offline/offline-backend.js';
import { OnlineBackend, type OnlineServices } from '../backend/online-backend.js';
import type { UssdUser } from '../backend/ussd-backend.js';
import { OfflineQueueService } from '../../sync/offline-queue/offline-queue.service.js';
import { UssdSnapshotStore } from '../offline/snapshot.store.js';

export interface Backed<B> {
  user: UssdUser;
  backend: B;
  /** The subscriber was registered by this step: nothing of theirs exists yet. */
  registered?: boolean;
}

/** Builds the screens' backend for one step: the services while PostgreSQL answers, else the subscriber's snapshot. */
@Injectable()
export class UssdBackendFactory {
  private readonly services: OnlineServices;

  constructor(
    private readonly onboarding: OnboardingService,
    private readonly users: UsersService,
    private readonly snapshots: UssdSnapshotStore,
    private readonly offlineQueue: OfflineQueueService,
    loans: LoansService,
    wallet: WalletService,
    withdrawals: WithdrawalService,
    topUps: TopUpService,
  ) {
    this.services = { users, loans, wallet, withdrawals, topUps };
  }

  /**
   * Online, for `known` (from the session) or else whoever the identity cache or PostgreSQL says
   * the number is, registering them (with a wallet) on first contact. `cached` is the identity
   * cache's entry when read already (null: not there).
   */
  async online(msisdn: string, known: UssdUser | null, cached?: UssdUser | null): Promise<Backed<OnlineBackend>> {
    if (known) return { user: known, backend: new OnlineBackend(known, this.services) };
    const { registered, ...user } = await this.onboarding.identify(msisdn, cached);
    return { user, backend: new OnlineBackend(user, this.services), registered };
  }

  /** Offline, from the subscriber's snapshot; null when there is none. */
  async offline(msisdn: string): Promise<Backed<OfflineBackend> | null> {
    const snapshot = await this.snapshots.get(msisdn);
    if (!snapshot) return null;
    const { hasPin: _hasPin, ...user } = snapshot.user;
    return { user, backend: new OfflineBackend(snapshot, this.users, this.offlineQueue) };
  }
}
