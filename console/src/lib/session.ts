// The API token lives in sessionStorage: this tab only, gone when it closes, never sent
// anywhere but onair's /graphql (the Authorization header, the WebSocket's connectionParams).
const KEY = 'onair.console.token';

export function storedToken(): string | null {
  return sessionStorage.getItem(KEY);
}

export function storeToken(token: string): void {
  sessionStorage.setItem(KEY, token);
}

export function forgetToken(): void {
  sessionStorage.removeItem(KEY);
}
