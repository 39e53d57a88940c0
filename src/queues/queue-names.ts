/**
 * Every queue and job of Deni, in one place. Adding a job means: a name here, its payload type
 * in JobPayloads, its queue in JOB_QUEUE, and a handler in that queue's processor.
 */
export enum QueueName {
  Notifications = 'notifications',
  Loans = 'loans',
  UssdOffline = 'ussd-offline',
  Mpesa = 'mpesa',
}

export enum JobName {
  SendNotification = 'send-notification',
  RelayNotifications = 'relay-notifications',
  ExpireLoan = 'expire-loan',
  ExpireDueLoans = 'expire-due-loans',
  ApplyOfflineItem = 'apply-offline-item',
  ReconcilePayments = 'reconcile-payments',
}

export interface JobPayloads {
  [JobName.SendNotification]: { notificationId: string };
  [JobName.RelayNotifications]: Record<string, never>;
  [JobName.ExpireLoan]: { loanId: string };
  [JobName.ExpireDueLoans]: Record<string, never>;
  /** The item lives in Redis (see OfflineQueueService); the delays drive the backoff strategy. */
  [JobName.ApplyOfflineItem]: { id: string; firstDelayMs: number; maxDelayMs: number };
  [JobName.ReconcilePayments]: Record<string, never>;
}

export const JOB_QUEUE: { readonly [J in JobName]: QueueName } = {
  [JobName.SendNotification]: QueueName.Notifications,
  [JobName.RelayNotifications]: QueueName.Notifications,
  [JobName.ExpireLoan]: QueueName.Loans,
  [JobName.ExpireDueLoans]: QueueName.Loans,
  [JobName.ApplyOfflineItem]: QueueName.UssdOffline,
  [JobName.ReconcilePayments]: QueueName.Mpesa,
};

export const ALL_QUEUES: readonly QueueName[] = Object.values(QueueName);
