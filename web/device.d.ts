// Type declarations of device.js: human-readable device labels.

/** The browser, its major version and the OS a User-Agent names ('' when it does not tell). */
export function describeUserAgent(userAgent?: string): { browser: string; version: string; os: string };

/** "Living room TV · Chrome 131 on Windows": the name (at most 64 characters), browser and OS that are known; '' for none. */
export function deviceLabel(options?: { userAgent?: string; name?: string }): string;

/** The label of a listed session: its client.userAgent (a raw User-Agent made readable), else its device id. */
export function sessionLabel(session: { deviceId?: string; client?: { userAgent?: string } } | null | undefined): string;
