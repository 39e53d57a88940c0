import { Controller, Get, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentUser, UserAuth } from '../auth/user-auth.guard.js';
import type { AuthenticatedUser } from '../auth/token.service.js';
import { UsersService } from '../users/users.service.js';
import { WalletService } from '../wallet/wallet.service.js';
import { WalletHistoryPage, WalletHistoryQuery, WalletView } from './dto/loan.dto.js';
import { LoansService } from './loans.service.js';

/** The wallet as a user sees it: the ledger's balance beside what the loans say is owed. */
@ApiTags('wallet')
@UserAuth()
@Controller('api/wallet')
export class WalletController {
  constructor(
    private readonly loans: LoansService,
    private readonly wallet: WalletService,
    private readonly users: UsersService,
  ) {}

  @Get()
  @ApiOperation({ summary: 'Balance, what you are owed and what you owe' })
  @ApiOkResponse({ type: WalletView })
  async get(@CurrentUser() me: AuthenticatedUser): Promise<WalletView> {
    return { ...(await this.loans.summary(me.userId)), currency: 'KES' };
  }

  @Get('transactions')
  @ApiOperation({ summary: 'Ledger entries of your wallet, newest first (cursor pagination)' })
  @ApiOkResponse({ type: WalletHistoryPage })
  async transactions(
    @CurrentUser() me: AuthenticatedUser,
    @Query() query: WalletHistoryQuery,
  ): Promise<WalletHistoryPage> {
    const page = await this.wallet.history(me.userId, { limit: query.limit, before: query.before });
    const phones = await this.users.phoneNumbers(
      page.items.flatMap((i) => (i.counterpartyUserId ? [i.counterpartyUserId] : [])),
    );
    return {
      items: page.items.map(({ counterpartyUserId, ...entry }) => ({
        ...entry,
        counterpartyPhoneNumber: counterpartyUserId ? (phones.get(counterpartyUserId) ?? null) : null,
      })),
      nextCursor: page.nextCursor,
    };
  }
}
