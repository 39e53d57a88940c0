import { Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { InjectRepository } from '@nestjs/typeorm';
import { EntityManager, In, Repository } from 'typeorm';
import type { AppConfig } from '../config/app-config.js';
import { TransactionService } from '../database/transaction.service.js';
import { NotificationsService } from '../notifications/notifications.service.js';
import { OfflinePinCache } from './offline-pin-cache.js';
import { UserIdentityCache, type UserIdentity } from './user-identity.cache.js';
import { PinLockout } from './pin-lockout.js';
import { SubscriberChanges } from './subscriber-changes.js';
import { hashPin, pinMatches, pinRejection } from './pin.js';
import { parseKenyanMobile, toMsisdn } from '../common/phone-number.js';
import { User } from './user.entity.js';
import { Language } from '../common/language.js';
import { parseDisplayName, titleCase } from '../common/display-name.js';
import { UserErrors } from './users.errors.js';

/** What registering a subscriber also does, in the same transaction (see OnboardingService). */
export type OnRegistered = (manager: EntityManager, userId: string) => Promise<unknown>;

/** Who a number is, and whether this lookup registered it (nothing of theirs exists yet). */
export interface Identified extends UserIdentity {
  registered: boolean;
}

/** Who a subscriber is, as they and their screens see it (never the PIN's hash). */
export interface SubscriberProfile {
  id: string;
  phoneNumber: string;
  language: Language;
  hasPin: boolean;
  /** The name shown for them: their own, else M-PESA's; null when neither is known. */
  name: string | null;
  /** The name they set. */
  ownName: string | null;
  /** The name M-PESA reported for their number, and where it came from. */
  mpesaName: string | null;
  mpesaNameSource: string | null;
  nameHidden: boolean;
  memberSince: Date;
}

interface ProfileRow {
  id: string;
  phone_number: string;
  language: Language;
  has_pin: boolean;
  name: string | null;
  mpesa_name: string | null;
  mpesa_name_source: string | null;
  name_hidden: boolean;
  created_at: Date;
}

function profileOf(r: ProfileRow): SubscriberProfile {
  return {
    id: r.id,
    phoneNumber: r.phone_number,
    language: r.language,
    hasPin: r.has_pin,
    name: r.name ?? r.mpesa_name,
    ownName: r.name,
    mpesaName: r.mpesa_name,
    mpesaNameSource: r.mpesa_name_source,
    nameHidden: r.name_hidden,
    memberSince: r.created_at,
  };
}

interface IdentityRow {
  id: string;
  phone_number: string;
  language: Language;
}

function identityOf(row: IdentityRow): UserIdentity {
  return { id: row.id, phoneNumber: row.phone_number, language: row.language };
}

@Injectable()
export class UsersService {
  private readonly logger = new Logger(UsersService.name);
  private readonly pepper: string;
  private readonly lockMinutes: number;

  constructor(
    @InjectRepository(User) private readonly users: Repository<User>,
    private readonly lockout: PinLockout,
    private readonly pinCache: OfflinePinCache,
    private readonly identities: UserIdentityCache,
    private readonly transactions: TransactionService,
    private readonly notifications: NotificationsService,
    private readonly changes: SubscriberChanges,
    config: ConfigService<AppConfig, true>,
  ) {
    this.pepper = config.get('security', { infer: true }).pinPepper;
    this.lockMinutes = config.get('pin', { infer: true }).lockMinutes;
  }

  private repo(manager?: EntityManager): Repository<User> {
    return manager ? manager.getRepository(User) : this.users;
  }

  /**
   * The subscriber behind a phone number, registered on first contact. Safe under concurrency:
   * two first requests from one number yield one user. `onRegistered` runs in the registering
   * transaction (the onboarding module opens the wallet there); users knows nothing of wallets.
   */
  async findOrRegister(phoneNumber: string, manager?: EntityManager, onRegistered?: OnRegistered): Promise<User> {
    const msisdn = toMsisdn(phoneNumber);
    const existing = await this.repo(manager).findOneBy({ phoneNumber: msisdn });
    if (existing) return existing;
    const register = async (m: EntityManager) => {
      await m.createQueryBuilder().insert().into(User).values({ phoneNumber: msisdn }).orIgnore().execute();
      const user = await m.getRepository(User).findOneByOrFail({ phoneNumber: msisdn });
      await onRegistered?.(m, user.id);
      return user;
    };
    return manager ? register(manager) : this.transactions.run((tx) => register(tx.manager));
  }

  /**
   * Who is dialling: the cached identity, else the user (registered on first contact, with
   * `onRegistered` as findOrRegister), which is then cached. A USSD dial needs no more than this.
   * `registered` says the number was registered by this call: nothing of theirs exists yet.
   */
  async identify(phoneNumber: string, onRegistered?: OnRegistered, cached?: UserIdentity | null): Promise<Identified> {
    const msisdn = toMsisdn(phoneNumber);
    // `cached` when the caller has read the cache already (null: not there).
    const identity = cached === undefined ? await this.identities.get(msisdn) : cached;
    if (identity) return { ...identity, registered: false };
    // Known (the cache lost or never had them): one query. New: the user and what registration
    // opens with them, in one transaction of two statements.
    const known = await this.identityFromDatabase(msisdn, this.users.manager);
    const found =
      known ??
      (await this.transactions.run(async (tx) => {
        const [row] = await tx.manager.query<IdentityRow[]>(
          `INSERT INTO users (phone_number) VALUES ($1) ON CONFLICT (phone_number) DO NOTHING
           RETURNING id, phone_number, language`,
          [msisdn],
        );
        // Registered at this moment by another request: theirs.
        if (!row) return this.identityFromDatabase(msisdn, tx.manager);
        await onRegistered?.(tx.manager, row.id);
        return { ...identityOf(row), registered: true };
      }));
    if (!found) throw UserErrors.notFound();
    const { registered, ...entry } = found;
    // Not waited for: on a first dial it would be a Redis round trip of its own before the
    // session's save. The fill never overwrites an entry (a later language change wins), and
    // one that fails only means the next dial reads PostgreSQL again.
    this.identities
      .fill(entry)
      .catch((err: unknown) => this.logger.warn({ err }, 'identity cache not filled: the next dial reads PostgreSQL'));
    return { ...entry, registered };
  }

  private async identityFromDatabase(msisdn: string, manager: EntityManager): Promise<Identified | null> {
    const [row] = await manager.query<IdentityRow[]>(
      'SELECT id, phone_number, language FROM users WHERE phone_number = $1',
      [msisdn],
    );
    return row ? { ...identityOf(row), registered: false } : null;
  }

  /** Who a number is as far as the identity cache knows it (a normalised MSISDN): nothing read from PostgreSQL. */
  cachedIdentity(msisdn: string): Promise<UserIdentity | null> {
    return this.identities.get(msisdn);
  }

  /**
   * For a caller that reads the identity cache in a script of its own (a USSD dial, with its rate
   * limit): the entry's key, tagged with subjectTag(msisdn), and its reading.
   */
  identityKey(msisdn: string): string {
    return this.identities.key(msisdn);
  }

  identityFrom(msisdn: string, raw: string | null): UserIdentity | null {
    return this.identities.parse(msisdn, raw);
  }

  /**
   * The language of a number as far as the identity cache knows it, without reading PostgreSQL
   * or registering anyone; null when the number is not cached (or not a Kenyan mobile number).
   */
  async cachedLanguage(phoneNumber: string): Promise<Language | null> {
    const parsed = parseKenyanMobile(phoneNumber);
    if (!parsed.ok) return null;
    return (await this.identities.get(parsed.msisdn))?.language ?? null;
  }

  async findByPhone(phoneNumber: string, manager?: EntityManager): Promise<User | null> {
    return this.repo(manager).findOneBy({ phoneNumber: toMsisdn(phoneNumber) });
  }

  async getById(id: string, manager?: EntityManager): Promise<User> {
    const user = await this.repo(manager).findOneBy({ id });
    if (!user) throw UserErrors.notFound();
    return user;
  }

  /** These users by id, in one query (in the caller's transaction when given); NOT_FOUND if one is missing. */
  async getByIds(ids: readonly string[], manager?: EntityManager): Promise<Map<string, User>> {
    const unique = [...new Set(ids)];
    const rows = unique.length ? await this.repo(manager).findBy({ id: In(unique) }) : [];
    if (rows.length !== unique.length) throw UserErrors.notFound();
    return new Map(rows.map((u) => [u.id, u]));
  }

  /** Phone numbers by user id, for presenting other parties. */
  async phoneNumbers(ids: readonly string[]): Promise<Map<string, string>> {
    const unique = [...new Set(ids)];
    if (!unique.length) return new Map();
    const rows = await this.users.find({ where: { id: In(unique) }, select: { id: true, phoneNumber: true } });
    return new Map(rows.map((u) => [u.id, u.phoneNumber]));
  }

  /** Who a subscriber is, their names and whether they have a PIN (never the PIN's hash), in one query. */
  async profile(userId: string): Promise<SubscriberProfile> {
    const row = (await this.profiles([userId])).get(userId);
    if (!row) throw UserErrors.notFound();
    return row;
  }

  /** profile() for several subscribers in one query, by id (those that do not exist are left out). */
  async profiles(userIds: readonly string[]): Promise<Map<string, SubscriberProfile>> {
    const unique = [...new Set(userIds)];
    if (!unique.length) return new Map();
    const rows = await this.users.manager.query<ProfileRow[]>(
      `SELECT id, phone_number, language, pin_hash IS NOT NULL AS has_pin, name, mpesa_name, mpesa_name_source,
              name_hidden, created_at
         FROM users WHERE id = ANY($1::uuid[])`,
      [unique],
    );
    return new Map(rows.map((r) => [r.id, profileOf(r)]));
  }

  /**
   * Sets the subscriber's own name (parseDisplayName: USER.NAME_* when it is not one). It is
   * shown from now on in place of any name M-PESA reported, which is kept apart and never
   * replaces it.
   */
  async setName(userId: string, input: unknown): Promise<SubscriberProfile> {
    const parsed = parseDisplayName(input);
    if (!parsed.ok) throw UserErrors.badName(parsed.code, parsed.reason);
    await this.users.update({ id: userId }, { name: parsed.name });
    return this.changedProfile(userId);
  }

  /** Whether the name is shown only to people the subscriber has dealt with. */
  async setNameHidden(userId: string, hidden: boolean): Promise<SubscriberProfile> {
    await this.users.update({ id: userId }, { nameHidden: hidden });
    return this.changedProfile(userId);
  }

  /**
   * The name M-PESA reported for the subscriber's own number (e.g. a B2C result's
   * ReceiverPartyPublicName, `source` saying which), title-cased. Kept apart from the name the
   * subscriber set, which it never overwrites; ignored when it is not a name (parseDisplayName).
   * Returns whether it was recorded.
   */
  async recordMpesaName(userId: string, reported: string, source: string): Promise<boolean> {
    const parsed = parseDisplayName(titleCase(reported));
    if (!parsed.ok) return false;
    const result = await this.users
      .createQueryBuilder()
      .update(User)
      .set({ mpesaName: parsed.name, mpesaNameSource: source.slice(0, 80) })
      .where('id = :id AND mpesa_name IS DISTINCT FROM :name', { id: userId, name: parsed.name })
      .execute();
    if (result.affected) await this.changes.changed([userId]);
    return true;
  }

  private async changedProfile(userId: string): Promise<SubscriberProfile> {
    const profile = await this.profile(userId);
    await this.changes.changed([userId]);
    return profile;
  }

  async hasPin(userId: string): Promise<boolean> {
    // A PIN, once set, is only ever replaced: a hash cached for the offline check settles it.
    if ((await this.pinCache.get(userId)) !== null) return true;
    return (await this.storedPinHash(userId)) !== null;
  }

  async setLanguage(userId: string, language: Language): Promise<void> {
    await this.users.update({ id: userId }, { language });
    const user = await this.getById(userId);
    await this.identities.replace({ id: user.id, phoneNumber: user.phoneNumber, language: user.language });
    await this.changes.changed([userId]);
  }

  /** First PIN of a user who has none. */
  async createPin(userId: string, pin: string): Promise<void> {
    this.assertAcceptablePin(pin);
    const hash = hashPin(pin, this.pepper);
    const result = await this.users
      .createQueryBuilder()
      .update(User)
      .set({ pinHash: hash, pinSetAt: () => 'now()' })
      .where('id = :id AND pin_hash IS NULL', { id: userId })
      .execute();
    if (!result.affected) {
      await this.getById(userId); // not found → USER.NOT_FOUND
      throw UserErrors.pinAlreadySet();
    }
    await this.pinCache.set(userId, hash);
    await this.changes.changed([userId]);
  }

  /**
   * Checks a PIN, counting failures across every channel and instance. Throws USER.PIN_LOCKED
   * while locked (without comparing), USER.PIN_INVALID with the attempts left otherwise.
   */
  async verifyPin(userId: string, pin: string): Promise<void> {
    const stored = await this.storedPinHash(userId);
    await this.checkPin(userId, stored, pin, async () => {
      // This failure locked the PIN: tell the owner, who may not be the one guessing.
      const user = await this.getById(userId);
      await this.transactions.run((tx) =>
        this.notifications.notify(tx, {
          phoneNumber: user.phoneNumber,
          language: user.language,
          template: 'pin.locked',
          params: { minutes: this.lockMinutes },
        }),
      );
    });
  }

  /**
   * The same check while PostgreSQL is down, against the current hash kept in Redis
   * (OfflinePinCache), with the same Redis lockout (so offline guesses count too). No SMS on a
   * lock: the outbox needs the database. Without a cached hash it cannot check: USER.PIN_OFFLINE.
   */
  async verifyPinOffline(userId: string, pin: string): Promise<void> {
    const cached = await this.pinCache.get(userId);
    if (cached === null) throw UserErrors.pinOffline();
    await this.checkPin(userId, cached, pin, () => Promise.resolve());
  }

  private async checkPin(
    userId: string,
    stored: string | null,
    pin: string,
    onLocked: () => Promise<void>,
  ): Promise<void> {
    if (stored === null) throw UserErrors.pinNotSet();
    const right = typeof pin === 'string' && pinMatches(pin, stored, this.pepper);
    const recorded = await this.lockout.attempt(userId, right);
    if (recorded.locked) throw UserErrors.pinLocked(Math.ceil(recorded.msLeft / 1000));
    if (right) {
      await this.pinCache.set(userId, stored);
      return;
    }
    const left = this.lockout.max - recorded.attempt;
    if (left > 0) throw UserErrors.pinInvalid(left);
    await onLocked();
    throw UserErrors.pinLocked(Math.ceil(recorded.msLeft / 1000));
  }

  async pinLockStatus(userId: string) {
    return this.lockout.status(userId);
  }

  async changePin(userId: string, oldPin: string, newPin: string): Promise<void> {
    this.assertAcceptablePin(newPin);
    await this.verifyPin(userId, oldPin);
    if (oldPin === newPin) throw UserErrors.pinUnchanged();
    await this.replacePin(userId, newPin);
  }

  /**
   * Sets a new PIN for a user who proved the current one earlier in the same journey (USSD asks
   * for it first, one screen at a time). Tells the owner by SMS.
   */
  async replacePin(userId: string, newPin: string): Promise<void> {
    this.assertAcceptablePin(newPin);
    const hash = hashPin(newPin, this.pepper);
    await this.transactions.run(async (tx) => {
      const user = await this.getById(userId, tx.manager);
      await tx.manager.update(User, { id: userId }, { pinHash: hash, pinSetAt: new Date() });
      await this.notifications.notify(tx, {
        phoneNumber: user.phoneNumber,
        language: user.language,
        template: 'pin.changed',
        params: {},
      });
    });
    await this.pinCache.set(userId, hash);
    await this.changes.changed([userId]);
  }

  /**
   * Sets a PIN after the owner proved the number (one-time code): allowed when there is no PIN
   * yet or the PIN is locked, and it lifts the lock.
   */
  async resetPin(userId: string, pin: string): Promise<void> {
    this.assertAcceptablePin(pin);
    const hasPin = await this.hasPin(userId);
    if (hasPin && !(await this.lockout.status(userId)).locked) throw UserErrors.pinAlreadySet();
    const hash = hashPin(pin, this.pepper);
    await this.users.update({ id: userId }, { pinHash: hash, pinSetAt: new Date() });
    await this.pinCache.set(userId, hash);
    await this.lockout.clear(userId);
    await this.changes.changed([userId]);
  }

  /**
   * A first entry of a new PIN, kept between two USSD screens until it is confirmed: validated,
   * then sealed (peppered hash), so it is never held in clear.
   */
  sealPin(pin: string): string {
    this.assertAcceptablePin(pin);
    return hashPin(pin, this.pepper);
  }

  sealedPinMatches(pin: string, sealed: string): boolean {
    return pinMatches(pin, sealed, this.pepper);
  }

  private assertAcceptablePin(pin: string): void {
    const rejection = pinRejection(pin);
    if (rejection === 'PIN.FORMAT') throw UserErrors.pinFormat();
    if (rejection === 'PIN.TRIVIAL') throw UserErrors.pinTrivial();
  }

  private async storedPinHash(userId: string): Promise<string | null> {
    const row = await this.users
      .createQueryBuilder('u')
      .select('u.pin_hash', 'pinHash')
      .where('u.id = :id', { id: userId })
      .getRawOne<{ pinHash: string | null }>();
    if (!row) throw UserErrors.notFound();
    return row.pinHash;
  }
}
