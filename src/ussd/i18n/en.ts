/**
 * English screen texts. Keys are shared with sw.ts (the compiler checks both have every key).
 * Placeholders are {name}. Keep every screen short: the engine refuses to send more than
 * USSD_MAX_CHARS characters and a test renders every screen in both languages.
 */
export const en = {
  'nav.back': '0. Back',
  'nav.home': '00. Home',
  'nav.more': '98. More',
  'nav.exit': '0. Exit',

  'main.title': 'M-PESA LOANS',
  'main.options':
    '1. Request Loan\n2. View My Loans\n3. Approve Loan\n4. View Balance\n5. Transactions\n6. Repay Loan\n7. My Account',
  'exit.bye': 'Thank you for using M-PESA Loans.',

  // The offer to continue a journey lost after typing: what it would continue, per journey.
  'resume.request': 'Continue your loan request to {lender}?',
  'resume.withdraw': 'Continue your withdrawal of Ksh {amount}?',
  'resume.repay': 'Continue your repayment of Ksh {amount} to {other}?',
  'resume.options': '1. Continue\n2. Start again',

  'request.phone': 'REQUEST LOAN\nEnter lender phone:',
  'request.amount': 'Enter loan amount (Ksh):',
  'request.repayment': 'Enter repayment per deposit (Ksh):',
  'request.confirm':
    'CONFIRM LOAN\nLender: {lender}\nAmount: Ksh {amount}\nRepayment: Ksh {repayment}\n1. Confirm 0. Cancel',
  'request.sent': 'SUCCESS\nLoan request sent to {lender}',

  'loans.title': 'MY LOANS',
  'loans.empty': 'You have no loans yet.',
  'loans.line.borrowed': '{n}. From {other} Ksh {amount}',
  'loans.line.lent': '{n}. To {other} Ksh {amount}',
  'loans.detail.borrowed':
    'Loan from {other}\nAmount: Ksh {amount}\nOutstanding: Ksh {outstanding}\nPer deposit: Ksh {repayment}\nStatus: {status}',
  'loans.detail.lent':
    'Loan to {other}\nAmount: Ksh {amount}\nOutstanding: Ksh {outstanding}\nPer deposit: Ksh {repayment}\nStatus: {status}',

  'status.PENDING': 'Pending',
  'status.ACTIVE': 'Active',
  'status.REPAID': 'Repaid',
  'status.DECLINED': 'Declined',
  'status.CANCELLED': 'Cancelled',
  'status.EXPIRED': 'Expired',

  'approve.title': 'APPROVE LOAN',
  'approve.empty': 'No requests are waiting for you.',
  'approve.line': '{n}. {other} Ksh {amount}',
  'approve.detail': '{other} asks Ksh {amount}\nRepay Ksh {repayment} per deposit\n1. Approve\n2. Decline',
  'approve.done': 'APPROVED\nKsh {amount} sent to {other}.',
  'approve.declined': 'Request from {other} declined.',
  'approve.short': 'Your wallet has Ksh {balance}. You need Ksh {needed}.\n1. Top up with M-PESA',

  'balance.text': 'BALANCE\nWallet: Ksh {balance}\nYou owe: Ksh {owing}\nOwed to you: Ksh {owed}',

  'tx.title': 'TRANSACTIONS',
  'tx.empty': 'No transactions yet.',
  'tx.line': '{date} {kind} {amount}',
  'tx.kind.deposit': 'Deposit',
  'tx.kind.withdrawal_hold': 'Withdraw',
  'tx.kind.withdrawal_settle': 'Withdrawn',
  'tx.kind.withdrawal_release': 'Refund',
  'tx.kind.loan_disbursement': 'Loan',
  'tx.kind.loan_repayment': 'Repaid',

  'repay.title': 'REPAY LOAN',
  'repay.empty': 'You have no active loans.',
  'repay.line': '{n}. {other} owed Ksh {outstanding}',
  'repay.amount': 'Owed to {other}: Ksh {outstanding}\nWallet: Ksh {balance}\nEnter amount (Ksh):',
  'repay.done': 'PAID\nKsh {amount} paid to {other}. Still owed: Ksh {outstanding}',

  'account.title': 'MY ACCOUNT',
  'account.options': '1. Top up\n2. Withdraw\n3. Change PIN\n4. Language',
  'topup.amount': 'TOP UP\nEnter amount (Ksh):',
  'topup.sent':
    'M-PESA will ask for your PIN on this phone to add Ksh {amount}. You will get an SMS when it is in your wallet.',
  'withdraw.amount': 'WITHDRAW\nWallet: Ksh {balance}\nEnter amount (Ksh):',
  'withdraw.sent': 'Ksh {amount} is on its way to your M-PESA. You will get an SMS.',
  'language.options': 'LANGUAGE\n1. English\n2. Kiswahili',
  'language.done': 'Language set to English.',
  'pin.changed': 'Your PIN has been changed.',

  'pin.enter': 'Enter your 4-digit PIN:',
  'pin.old': 'Enter your current PIN:',
  'pin.create': 'Create a 4-digit PIN:',
  'pin.new': 'Enter a new 4-digit PIN:',
  'pin.confirm': 'Confirm PIN:',

  'invalid.option': 'Invalid choice.',
  'invalid.listChanged': 'The list has changed. Choose again.',
  'invalid.amount': 'Enter a whole amount from Ksh {min} to Ksh {max}.',
  'invalid.repayment': 'Enter a whole amount from Ksh {min} to Ksh {max}.',
  'invalid.pinFormat': 'A PIN is 4 digits.',
  'invalid.pinTrivial': 'Too easy. Avoid 1234 or 1111.',
  'invalid.pinMismatch': 'PINs did not match. Try again.',
  'invalid.pinWrong': 'Wrong PIN. {left} attempt(s) left.',
  'invalid.self': 'You cannot borrow from yourself.',
  'invalid.moreThanOwed': 'Only Ksh {max} is owed.',
  'invalid.moreThanBalance': 'Your wallet has Ksh {max}.',

  'phone.PHONE.REQUIRED': 'Enter a phone number.',
  'phone.PHONE.NOT_KENYAN': 'Only Kenyan numbers.',
  'phone.PHONE.BAD_FORMAT': 'Use a number like 0712345678.',
  'phone.PHONE.NOT_MOBILE': 'Use a mobile number.',
  'phone.PHONE.INVALID': 'Not a valid number.',

  'error.USER.PIN_NOT_SET': 'You have no PIN yet. You create one the first time you need it.',
  'error.USER.PIN_LOCKED': 'Too many wrong PINs. Your PIN is locked for {minutes} minutes.',
  'error.LOAN.TOO_MANY_PENDING': 'You already have {max} requests waiting.',
  'error.LOAN.DUPLICATE_REQUEST': 'The same request is already waiting for this lender.',
  'error.LOAN.NOT_PENDING': 'This request is no longer waiting.',
  'error.LOAN.NOT_ACTIVE': 'This loan is not active.',
  'error.LOAN.SELF_LOAN': 'You cannot borrow from yourself.',
  'error.WALLET.INSUFFICIENT_FUNDS': 'Not enough money in your wallet.',
  'offline.asOf': 'As of {time}:',
  'offline.queued': 'Saved. It will be done when the service is back and you will get an SMS. Ref {reference}',
  'offline.busy': 'The service is busy. Please try again in a few minutes.',
  'error.SERVICE.OFFLINE': 'This needs the service to be back. Please try again later.',
  'error.MPESA.DARAJA_UNAVAILABLE': 'M-PESA is not answering right now. Nothing was taken. Please try again later.',
  'error.MPESA.DARAJA_REJECTED': 'M-PESA refused the request. Nothing was taken.',
  'error.USER.PIN_OFFLINE': 'This needs the service to be back. Please try again later.',
  'error.unavailable': 'Service temporarily unavailable. Please try again in a few minutes.',
  'error.generic': 'Sorry, that did not work. Please try again later.',
  'error.badNumber': 'Sorry, this service is for Kenyan mobile numbers.',
  'error.rateLimited': 'Too many requests. Please wait a minute and dial again.',
  'error.unreadable': 'Sorry, we could not read that request. Please dial again.',
} as const;

export type MessageKey = keyof typeof en;
