// Human-readable device labels: "Living room TV · Chrome 131 on Windows"
// instead of a raw User-Agent or a device id. Pure functions, no DOM.

// Browsers by the token their User-Agent carries, most specific first (Edge,
// Opera and Samsung Internet also say Chrome; Chrome also says Safari).
const BROWSERS = [
  ['Edg', 'Edge'], ['EdgA', 'Edge'], ['EdgiOS', 'Edge'], ['OPR', 'Opera'], ['SamsungBrowser', 'Samsung Internet'],
  ['Firefox', 'Firefox'], ['FxiOS', 'Firefox'], ['CriOS', 'Chrome'], ['HeadlessChrome', 'Chrome'],
  ['Chrome', 'Chrome'], ['Chromium', 'Chromium'],
];
const SYSTEMS = [
  [/Windows NT/, 'Windows'], [/Android/, 'Android'], [/iPhone|iPod/, 'iOS'], [/iPad/, 'iPadOS'],
  [/CrOS/, 'ChromeOS'], [/Mac OS X|Macintosh/, 'macOS'], [/Linux/, 'Linux'],
];
const MAX_NAME = 64;

/**
 * The browser, its major version and the operating system a User-Agent
 * names, as far as it tells: { browser, version, os }, each possibly ''.
 */
export function describeUserAgent(userAgent = '') {
  const ua = String(userAgent);
  let browser = '';
  let version = '';
  for (const [token, name] of BROWSERS) {
    const m = ua.match(new RegExp('\\b' + token + '/(\\d+)'));
    if (m) {
      browser = name;
      version = m[1];
      break;
    }
  }
  if (!browser) {
    const safari = ua.match(/Version\/(\d+)[.\d]* (?:Mobile\/\S+ )?Safari\//);
    if (safari) [browser, version] = ['Safari', safari[1]];
  }
  const os = SYSTEMS.find(([re]) => re.test(ua))?.[1] ?? '';
  return { browser, version, os };
}

/**
 * A label for this device: the app-given name (trimmed, at most 64
 * characters), then the browser and OS of the User-Agent, "Name · Chrome
 * 131 on Windows"; parts it cannot tell are left out, '' when none is known.
 */
export function deviceLabel({ userAgent, name } = {}) {
  const n = String(name ?? '').replace(/\s+/g, ' ').trim().slice(0, MAX_NAME);
  const { browser, version, os } = describeUserAgent(userAgent);
  const agent = [browser && version ? browser + ' ' + version : browser, os].filter(Boolean).join(' on ');
  return [n, agent].filter(Boolean).join(' · ');
}

/**
 * The label of a session of a listing or a refusal: its client.userAgent as
 * this client sends it (already a label), a raw User-Agent (another client,
 * or the header the server fell back to) turned into one, else its device id.
 */
export function sessionLabel(session) {
  const ua = session?.client?.userAgent ?? '';
  if (/^Mozilla\/\d/.test(ua)) {
    const label = deviceLabel({ userAgent: ua });
    if (label) return label;
  }
  return ua || session?.deviceId || 'unnamed device';
}
