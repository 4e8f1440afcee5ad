// sessionkit browser client: a dependency-free ES module, served by the
// framework integrations at GET /sessionkit.js.
//
//   import { createClient } from "/sessionkit.js";
//   const sk = createClient({ onLoggedOut: (reason) => showLogin(reason) });
//   const me = await sk.fetch("/api/me");
//
// The session lives in two HttpOnly cookies that this script never sees.
// `fetch` sends them (same origin); on a 401 it refreshes the session once
// and retries. Refreshes are serialised across tabs with a Web Lock: a tab
// that had to wait for the lock, or that sees a counter in localStorage
// change, knows that another tab has refreshed meanwhile: it then retries
// with the new cookie instead of presenting a refresh token that has just
// been retired (which the server would take for theft once the grace window
// is over).

const COUNTER_KEY = "sessionkit.refreshes";
const DEADLINE_KEY = "sessionkit.expires";
const LOCK_NAME = "sessionkit-refresh";
// How early a refusal may come and still be the session's expiry: the
// cookies' Max-Age is in whole seconds and counted from their arrival.
const DEADLINE_SLACK_MS = 2000;

let memoryCounter = 0;
let memoryDeadline = null;

function readCounter() {
  try {
    return Number(window.localStorage.getItem(COUNTER_KEY) || "0") || 0;
  } catch (_) {
    return memoryCounter;
  }
}

function bumpCounter() {
  const next = readCounter() + 1;
  memoryCounter = next;
  try {
    window.localStorage.setItem(COUNTER_KEY, String(next));
  } catch (_) {
    // Storage blocked: this tab still counts its own refreshes.
  }
}

// When the session ends unless it is refreshed first (milliseconds since
// the epoch, this browser's clock), or null: the browser drops the cookies
// then, and the server, seeing no token, cannot say that it expired.
function readDeadline() {
  try {
    const value = window.localStorage.getItem(DEADLINE_KEY);
    return value === null ? null : Number(value) || null;
  } catch (_) {
    return memoryDeadline;
  }
}

function writeDeadline(deadline) {
  memoryDeadline = deadline;
  try {
    if (deadline === null) window.localStorage.removeItem(DEADLINE_KEY);
    else window.localStorage.setItem(DEADLINE_KEY, String(deadline));
  } catch (_) {
    // Storage blocked: this tab still keeps its own deadline.
  }
}

// Runs `task(waited)` holding the refresh lock. `waited` says whether
// another tab held the lock when this one asked for it: that tab was
// refreshing, and has set new cookies by the time it lets go.
function withLock(task) {
  if (!(navigator.locks && navigator.locks.request)) return task(false);
  return navigator.locks.request(LOCK_NAME, { ifAvailable: true }, (lock) =>
    lock ? task(false) : navigator.locks.request(LOCK_NAME, () => task(true)),
  );
}

async function jsonOf(response) {
  try {
    return await response.clone().json();
  } catch (_) {
    return {};
  }
}

// A login or refresh answer says how long the session lives unless
// refreshed (`session_expires_in`, seconds): the cookies' lifetime.
async function noteDeadline(response) {
  const seconds = (await jsonOf(response)).session_expires_in;
  writeDeadline(typeof seconds === "number" ? Date.now() + seconds * 1000 : null);
}

// Why a refused refresh ended the session: the server's reason, or
// "expired" when the session's deadline has passed (its cookies are gone,
// so the server could not tell; this is the client's inference from the
// clock: a session revoked meanwhile also reads as expired), or null.
function reasonOf(body) {
  if (body.reason) return body.reason;
  const deadline = readDeadline();
  return deadline !== null && Date.now() >= deadline - DEADLINE_SLACK_MS ? "expired" : null;
}

/**
 * Creates a client. Options (all optional):
 * - `onLoggedOut(reason)`: called when the session cannot be refreshed;
 *   `reason` is "theft", "signed_out", "expired" or null (no session, or
 *   none the server could vouch for). "expired" also when the browser has
 *   dropped the cookies because the session's time was up.
 * - `paths`: { login, refresh, logout, logoutAll, sessions }, defaulting to
 *   /auth/login, /auth/refresh, /auth/logout, /auth/logout-all, /auth/sessions.
 */
export function createClient(options = {}) {
  const paths = Object.assign(
    {
      login: "/auth/login",
      refresh: "/auth/refresh",
      logout: "/auth/logout",
      logoutAll: "/auth/logout-all",
      sessions: "/auth/sessions",
    },
    options.paths || {},
  );
  const onLoggedOut = options.onLoggedOut || (() => {});

  const send = (input, init = {}) =>
    window.fetch(input, Object.assign({ credentials: "same-origin" }, init));

  // Refreshes the session unless another tab did: since `seen` was read,
  // or while this one waited for the lock. The counter alone is not enough:
  // a tab handed the lock may not see the other tab's localStorage write
  // yet (tabs can live in separate processes), while the cookies it sends
  // are already the new ones. Resolves to { ok, response, skipped }.
  function refresh(seen) {
    return withLock(async (waited) => {
      if (waited || readCounter() !== seen) return { ok: true, response: null, skipped: true };
      const response = await send(paths.refresh, { method: "POST" });
      if (response.ok) {
        bumpCounter();
        await noteDeadline(response);
      }
      return { ok: response.ok, response, skipped: false };
    });
  }

  // A request with the session: on a 401, refresh once and retry. When the
  // session is over, `onLoggedOut` is called and the failed answer returned.
  async function sessionFetch(input, init) {
    const seen = readCounter();
    const first = await send(input, init);
    if (first.status !== 401) return first;
    let refreshed = await refresh(seen);
    if (refreshed.skipped) {
      // Another tab refreshed: retry with its cookies, and refresh only if
      // that is still refused (its refresh may have failed).
      const again = await send(input, init);
      if (again.status !== 401) return again;
      refreshed = await refresh(readCounter());
    }
    if (!refreshed.ok) {
      const answer = refreshed.response;
      if (answer.status === 401) {
        // The deadline stays until the next login or logout, so that every
        // tab, and every visit until then, tells the same story.
        onLoggedOut(reasonOf(await jsonOf(answer)));
      }
      return answer;
    }
    return send(input, init);
  }

  async function json(input, init) {
    const response = await sessionFetch(input, init);
    if (!response.ok) {
      const body = await jsonOf(response);
      throw Object.assign(new Error(body.error || "http_" + response.status), {
        status: response.status,
        code: body.error || null,
      });
    }
    return response.json();
  }

  return {
    fetch: sessionFetch,
    json,
    refresh: () => refresh(readCounter()),

    /** Posts credentials as JSON; resolves to the server's response. */
    async login(credentials) {
      const response = await send(paths.login, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(credentials),
      });
      // New cookies: a tab waiting to refresh must retry, not refresh.
      if (response.ok) {
        bumpCounter();
        await noteDeadline(response);
      }
      return response;
    },

    /** Ends this session (the refresh cookie alone is enough). */
    async logout() {
      const response = await send(paths.logout, { method: "POST" });
      bumpCounter();
      writeDeadline(null);
      return response;
    },

    /** Ends every session of the user, this one included. */
    async logoutEverywhere() {
      const response = await sessionFetch(paths.logoutAll, { method: "POST" });
      bumpCounter();
      writeDeadline(null);
      return response;
    },

    /** The user's sessions, as listed by the server. */
    sessions: () => json(paths.sessions),

    /** Ends one of the user's sessions. */
    revokeSession: (handle) =>
      json(paths.sessions + "/" + encodeURIComponent(handle), { method: "DELETE" }),
  };
}
