// What the example pages share: their settings from the query string (api,
// uid, title, device) and the access token, kept in sessionStorage under
// TOKEN_KEY by the page's "Identity" field (an app asks its sign-in instead).
export const TOKEN_KEY = 'streamlimit.example.token';

export function settings() {
  const q = new URLSearchParams(location.search);
  const field = document.getElementById('token');
  if (field) {
    field.value = sessionStorage.getItem(TOKEN_KEY) ?? '';
    field.addEventListener('change', () => sessionStorage.setItem(TOKEN_KEY, field.value.trim()));
  }
  return {
    baseUrl: q.get('api') || 'http://localhost:3000/dev',
    uid: q.get('uid') || 'demo-viewer',
    title: q.get('title') || 'Test card',
    deviceName: q.get('device') || undefined,
    token: () => sessionStorage.getItem(TOKEN_KEY) || null,
  };
}
