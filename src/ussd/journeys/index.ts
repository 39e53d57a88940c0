import type { ScreenDef, ScreenId } from '../engine/types.js';
import { accountActions, accountScreens } from './account.journey.js';
import { approveActions, approveScreens } from './approve.journey.js';
import { balanceScreens } from './balance.journey.js';
import { mainScreens } from './main.journey.js';
import { myLoansScreens } from './my-loans.journey.js';
import { changePinScreens, pinScreens } from './pin.journey.js';
import { repayActions, repayScreens } from './repay.journey.js';
import { requestLoanActions, requestLoanScreens } from './request-loan.journey.js';
import { transactionsScreens } from './transactions.journey.js';

/** The whole *383# journey: every screen, once. */
export function journeyScreens(): ReadonlyMap<ScreenId, ScreenDef> {
  const all = [
    ...mainScreens,
    ...requestLoanScreens,
    ...myLoansScreens,
    ...approveScreens,
    ...balanceScreens,
    ...transactionsScreens,
    ...repayScreens,
    ...accountScreens,
    ...pinScreens({ ...requestLoanActions, ...approveActions, ...repayActions, ...accountActions }),
    ...changePinScreens,
  ];
  const map = new Map<ScreenId, ScreenDef>();
  for (const screen of all) {
    if (map.has(screen.id)) throw new Error(`screen ${screen.id} is defined twice`);
    map.set(screen.id, screen);
  }
  return map;
}
