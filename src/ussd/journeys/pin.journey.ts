import { isDomainError } from '../../common/domain-error.js';
import { pinRejection } from '../../users/pin.js';
import { ScreenId, type Next, type ScreenContext, type ScreenDef } from '../engine/types.js';

/** What a PIN confirms: each journey registers the action it runs once the PIN is right. */
export type PinAction = (ctx: ScreenContext) => Promise<Next>;
export const PIN_ACTION = 'pinAction';

/**
 * Ask for the PIN before `action` (registered under `name`): the PIN screen if the user has one,
 * else the two screens that create it first.
 */
export async function requirePin(ctx: ScreenContext, name: string): Promise<Next> {
  ctx.data[PIN_ACTION] = name;
  return (await ctx.backend.hasPin()) ? { go: ScreenId.PinEnter } : { go: ScreenId.PinCreate };
}

function pinProblem(pin: string): Next | null {
  const rejection = pinRejection(pin);
  if (rejection === 'PIN.FORMAT') return { invalid: 'invalid.pinFormat' };
  if (rejection === 'PIN.TRIVIAL') return { invalid: 'invalid.pinTrivial' };
  return null;
}

/** Verifies a PIN; a wrong one re-asks with the attempts left (a locked PIN ends the session). */
async function checkPin(ctx: ScreenContext, pin: string): Promise<Next | null> {
  if (!/^\d{4}$/.test(pin)) return { invalid: 'invalid.pinFormat' };
  try {
    await ctx.backend.verifyPin(pin);
    return null;
  } catch (e) {
    if (isDomainError(e, 'USER.PIN_INVALID')) {
      return { invalid: 'invalid.pinWrong', params: { left: Number(e.details?.attemptsLeft ?? 0) } };
    }
    throw e;
  }
}

/** Where the actions behind a PIN lead (for the journey diagram). */
const PIN_OUTCOMES = [ScreenId.RequestSent, ScreenId.ApproveDone, ScreenId.ApproveShort, ScreenId.RepayDone];

export function pinScreens(actions: Record<string, PinAction>): ScreenDef[] {
  const run = (ctx: ScreenContext): Promise<Next> => {
    const name = ctx.data[PIN_ACTION];
    const action = typeof name === 'string' ? actions[name] : undefined;
    if (!action) throw new Error(`no PIN action ${String(name)}`);
    return action(ctx);
  };
  return [
    {
      id: ScreenId.PinEnter,
      leadsTo: PIN_OUTCOMES,
      render: ({ t }) => ({ body: t('pin.enter') }),
      onInput: async (pin, ctx) => (await checkPin(ctx, pin)) ?? run(ctx),
    },
    {
      id: ScreenId.PinCreate,
      leadsTo: [ScreenId.PinConfirm],
      render: ({ t }) => ({ body: t('pin.create') }),
      onInput: (pin, ctx) => {
        const problem = pinProblem(pin);
        if (problem) return problem;
        // Kept sealed (peppered hash) until confirmed: a PIN is never held in clear.
        ctx.data.pinDraft = ctx.backend.sealPin(pin);
        return { go: ScreenId.PinConfirm };
      },
    },
    {
      id: ScreenId.PinConfirm,
      leadsTo: PIN_OUTCOMES,
      render: ({ t }) => ({ body: t('pin.confirm') }),
      onInput: async (pin, ctx) => {
        const draft = ctx.data.pinDraft;
        if (typeof draft !== 'string' || !ctx.backend.sealedPinMatches(pin, draft)) {
          return { invalid: 'invalid.pinMismatch' };
        }
        delete ctx.data.pinDraft;
        await ctx.backend.createPin(pin);
        return run(ctx);
      },
    },
  ];
}

/** Change PIN (My Account): current PIN, new PIN, confirm. */
export const changePinScreens: ScreenDef[] = [
  {
    id: ScreenId.PinOld,
    leadsTo: [ScreenId.PinNew],
    render: ({ t }) => ({ body: t('pin.old') }),
    onInput: async (pin, ctx) => {
      const problem = await checkPin(ctx, pin);
      if (problem) return problem;
      ctx.data.oldPinVerified = true;
      return { go: ScreenId.PinNew };
    },
  },
  {
    id: ScreenId.PinNew,
    leadsTo: [ScreenId.PinNewConfirm],
    render: ({ t }) => ({ body: t('pin.new') }),
    onInput: (pin, ctx) => {
      const problem = pinProblem(pin);
      if (problem) return problem;
      ctx.data.pinDraft = ctx.backend.sealPin(pin);
      return { go: ScreenId.PinNewConfirm };
    },
  },
  {
    id: ScreenId.PinNewConfirm,
    // Back to the current PIN if it was not verified in this journey.
    leadsTo: [ScreenId.PinOld],
    render: ({ t }) => ({ body: t('pin.confirm') }),
    onInput: async (pin, ctx) => {
      const draft = ctx.data.pinDraft;
      if (ctx.data.oldPinVerified !== true) return { finish: ScreenId.PinOld };
      if (typeof draft !== 'string' || !ctx.backend.sealedPinMatches(pin, draft)) {
        return { invalid: 'invalid.pinMismatch' };
      }
      await ctx.backend.replacePin(pin);
      delete ctx.data.pinDraft;
      delete ctx.data.oldPinVerified;
      return { end: ctx.t('pin.changed') };
    },
  },
];
