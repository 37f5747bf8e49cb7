// The console's pages, one per path under /console/ (onair serves index.html for each of them).
const BASE = '/console/';

export type Route =
  | { page: 'wall' }
  | { page: 'channel'; channelId: string }
  | { page: 'schedule'; channelId: string }
  | { page: 'unknown' };

export function routeOf(pathname: string): Route {
  const rest = pathname.startsWith(BASE) ? pathname.slice(BASE.length) : '';
  if (rest === '') return { page: 'wall' };
  const channel = /^channels\/([^/]+)\/?$/.exec(rest);
  if (channel) return { page: 'channel', channelId: decodeURIComponent(channel[1]) };
  const schedule = /^channels\/([^/]+)\/schedule\/?$/.exec(rest);
  if (schedule) return { page: 'schedule', channelId: decodeURIComponent(schedule[1]) };
  return { page: 'unknown' };
}

export const wallHref = BASE;
export const channelHref = (channelId: string) => `${BASE}channels/${encodeURIComponent(channelId)}`;
export const scheduleHref = (channelId: string) => `${channelHref(channelId)}/schedule`;

/** The route shown now; follows the history (back, forward) and the console's own links. */
class Router {
  route = $state<Route>(routeOf(location.pathname));

  constructor() {
    addEventListener('popstate', () => {
      this.route = routeOf(location.pathname);
    });
  }

  go(href: string): void {
    if (href === location.pathname) return;
    history.pushState(null, '', href);
    this.route = routeOf(location.pathname);
    scrollTo(0, 0);
  }
}

export const router = new Router();

/** A link's click, handled in the page (no reload) unless the operator asked for a new tab or window. */
export function follow(event: MouseEvent): void {
  if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const target = event.currentTarget as HTMLAnchorElement;
  event.preventDefault();
  router.go(target.pathname);
}
