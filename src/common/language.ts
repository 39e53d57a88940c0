/** The languages Deni speaks (screens and SMS): English and Swahili. */
export const LANGUAGES = ['en', 'sw'] as const;
export type Language = (typeof LANGUAGES)[number];
