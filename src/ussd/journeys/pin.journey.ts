import { isDomainError } from '../../common/domain-error.js';
import { pinRejection } from '../../users/pin.js';
import type { MessageKey } from '../i18n/en.js';
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

/** The pair of screens that choose a new PIN: type it, then type it again to confirm. */
interface PinCreation {
  create: ScreenId;
  confirm: ScreenId;
  prompt: MessageKey;
  confirmLeadsTo: ScreenId[];
  /** Checked when the confirmation arrives, before anything else: a Next here is the answer. */
  before?: (ctx: ScreenContext) => Next | null;
  save(pin: string, ctx: ScreenContext): Promise<void>;
  then(ctx: ScreenContext): Promise<Next> | Next;
}

function pinCreationScreens(creation: PinCreation): ScreenDef[] {
  return [
    {
      id: creation.create,
      leadsTo: [creation.confirm],
      render: ({ t }) => ({ body: t(creation.prompt) }),
      onInput: (pin, ctx) => {
        const problem = pinProblem(pin);
        if (problem) return problem;
        // Kept sealed (peppered hash) until confirmed: a PIN is never held in clear.
        ctx.data.pinDraft = ctx.backend.sealPin(pin);
        return { go: creation.confirm };
      },
    },
    {
      id: creation.confirm,
      leadsTo: creation.confirmLeadsTo,
      render: ({ t }) => ({ body: t('pin.confirm') }),
      onInput: async (pin, ctx) => {
        const early = creation.before?.(ctx);
        if (early) return early;
        const draft = ctx.data.pinDraft;
        if (typeof draft !== 'string' || !ctx.backend.sealedPinMatches(pin, draft)) {
          return { invalid: 'invalid.pinMismatch' };
        }
        await creation.save(pin, ctx);
        delete ctx.data.pinDraft;
        return creation.then(ctx);
      },
    },
  ];
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
    ...pinCreationScreens({
      create: ScreenId.PinCreate,
      confirm: ScreenId.PinConfirm,
      prompt: 'pin.create',
      confirmLeadsTo: PIN_OUTCOMES,
      save: (pin, ctx) => ctx.backend.createPin(pin),
      then: run,
    }),
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
  ...pinCreationScreens({
    create: ScreenId.PinNew,
    confirm: ScreenId.PinNewConfirm,
    prompt: 'pin.new',
    // Back to the current PIN if it was not verified in this journey.
    confirmLeadsTo: [ScreenId.PinOld],
    before: (ctx) => (ctx.data.oldPinVerified === true ? null : { finish: ScreenId.PinOld }),
    save: (pin, ctx) => ctx.backend.replacePin(pin),
    then: (ctx) => {
      delete ctx.data.oldPinVerified;
      return { end: ctx.t('pin.changed') };
    },
  }),
];
