// <member-card>: the signed-in user's WeChat Pay member card, from our HTTP contract only.
// States (lib/views.ts): loading → card | empty (no card: open one) | login | error; after the user
// comes back from opening a card: confirming → card | empty. Events: load, error, opencard, login,
// change. A host reaches the instance only through export(): { refresh }.
import { getMyCard, getOpenCardParams, isNoCard, updateBackground, type MyCard } from '../../lib/api';
import { DEFAULT_CONFIRM_WINDOW_MS, nextDelay } from '../../lib/backoff';
import { getConfig, notifyUnauthenticated } from '../../lib/config';
import { asMemberCardError, errorDetail, memberCardError, type MemberCardError } from '../../lib/errors';
import { isFresh, refetchIn, ticketFrom, type Ticket } from '../../lib/open-card';
import { track, untrack } from '../../lib/registry';
import {
  backgroundOptions,
  cardView,
  errorView,
  openErrorText,
  saveErrorText,
  type BackgroundOption,
  type CardView,
  type Panel,
  type View,
} from '../../lib/views';

/** Per-instance state that is not rendered (timers, the ticket): kept out of setData. */
interface Private {
  /** Bumped by every load: an answer to an older one is dropped. */
  generation: number;
  ticket?: Ticket;
  ticketTimer?: number;
  ticketRequest?: Promise<void>;
  /** A back-off wait in progress, so that refresh() or detaching can end it. */
  wait?: { timer: number; done: (waited: boolean) => void };
  /** The user was handed to the card-opening mini-program … */
  awaitingReturn: boolean;
  /** … and the page has hidden since (a cancelled jump never hides it). */
  leftPage: boolean;
  detached: boolean;
}

const privates = new WeakMap<object, Private>();

function own(instance: object): Private {
  let state = privates.get(instance);
  if (!state) {
    state = { generation: 0, awaitingReturn: false, leftPage: false, detached: false };
    privates.set(instance, state);
  }
  return state;
}

function endWait(state: Private): void {
  if (!state.wait) return;
  clearTimeout(state.wait.timer);
  state.wait.done(false);
  state.wait = undefined;
}

/** Resolves true after `ms`, or false as soon as endWait() ends it. */
function wait(state: Private, ms: number): Promise<boolean> {
  endWait(state);
  return new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => {
      state.wait = undefined;
      resolve(true);
    }, ms);
    state.wait = { timer, done: resolve };
  });
}

/** Worth another look while confirming: no card yet, or a failure that may pass. */
function transient(err: MemberCardError): boolean {
  return isNoCard(err) || err.kind === 'network' || (err.kind === 'http' && (err.status >= 500 || err.status === 429));
}

const NOT_FOUND_AFTER_OPEN = '暂未查到您的会员卡。如果刚刚已经领取，请稍后点击刷新。';

Component({
  behaviors: ['wx://component-export'],
  externalClasses: ['custom-class', 'card-class', 'button-class'],

  properties: {
    /** No "更换卡面背景" button. */
    hideEdit: { type: Boolean, value: false },
    /** Tighter spacing and a shorter card face, for a card among other content. */
    compact: { type: Boolean, value: false },
    /**
     * "event" (default): "领取会员卡" triggers `opencard` and the host calls wx.navigateToMiniProgram
     * in its handler (a plugin component on a host page may not). "navigate": the component calls it
     * itself: on the plugin's own page, or in the npm form.
     */
    openMode: { type: String, value: 'event' },
  },

  data: {
    view: 'loading' as View,
    card: null as CardView | null,
    backgrounds: [] as BackgroundOption[],
    panel: '' as Panel,
    selected: '',
    saving: false,
    editError: '',
    /** A fresh ticket is at hand: the tap can open the card-opening mini-program at once. */
    ticketReady: false,
    openError: '',
    /** Said in the empty state after confirming found no card. */
    openNote: '',
    errorTitle: '',
    errorText: '',
    canRetry: false,
    canLogin: false,
  },

  lifetimes: {
    attached() {
      own(this).detached = false;
      track(this);
      void this.load();
    },
    detached() {
      const state = own(this);
      state.detached = true;
      state.generation += 1;
      endWait(state);
      if (state.ticketTimer !== undefined) clearTimeout(state.ticketTimer);
      untrack(this);
    },
  },

  pageLifetimes: {
    hide() {
      const state = own(this);
      if (state.awaitingReturn) state.leftPage = true;
    },
    show() {
      const state = own(this);
      if (state.awaitingReturn && state.leftPage) {
        state.awaitingReturn = false;
        state.leftPage = false;
        void this.confirm();
      } else if (this.data.view === 'empty') {
        void this.prepareTicket();
      }
    },
  },

  export() {
    // All a host's selectComponent gets of a plugin component.
    return { refresh: () => this.refresh() };
  },

  methods: {
    /** Loads the card again from scratch (the host calls it after logging the user in). */
    refresh() {
      void this.load();
    },

    async load() {
      const state = own(this);
      const generation = ++state.generation;
      endWait(state);
      this.setData({ view: 'loading', panel: '', editError: '', openError: '', openNote: '' });
      try {
        const result = await getMyCard();
        if (generation === state.generation) this.showCard(result);
      } catch (err) {
        if (generation === state.generation) this.showFailure(asMemberCardError(err));
      }
    },

    /** After the user came back from the card-opening mini-program: look again with back-off. */
    async confirm() {
      const state = own(this);
      const generation = ++state.generation;
      endWait(state);
      this.setData({ view: 'confirming', panel: '', openError: '', openNote: '' });
      const config = getConfig();
      const windowMs = (config && config.confirmWindowMs) || DEFAULT_CONFIRM_WINDOW_MS;
      const started = Date.now();
      for (let attempt = 0; ; attempt += 1) {
        let failure: MemberCardError;
        try {
          const result = await getMyCard();
          if (generation === state.generation) this.showCard(result);
          return;
        } catch (err) {
          if (generation !== state.generation) return;
          failure = asMemberCardError(err);
        }
        const delay = transient(failure) ? nextDelay(attempt, Date.now() - started, windowMs) : undefined;
        if (delay === undefined) {
          if (isNoCard(failure)) this.showEmpty(NOT_FOUND_AFTER_OPEN);
          else this.showFailure(failure);
          return;
        }
        if (!(await wait(state, delay)) || generation !== state.generation) return;
      }
    },

    showCard(result: MyCard) {
      this.setData({ view: 'card', card: cardView(result), backgrounds: backgroundOptions(result) });
      this.triggerEvent('load', { card: result.card });
    },

    showFailure(err: MemberCardError) {
      if (isNoCard(err)) {
        this.showEmpty('');
        return;
      }
      this.triggerEvent('error', errorDetail(err, 'load'));
      if (err.kind === 'login') {
        this.setData({ view: 'login', card: null, backgrounds: [] });
        return;
      }
      const shown = errorView(err);
      this.setData({
        view: 'error',
        card: null,
        backgrounds: [],
        errorTitle: shown.title,
        errorText: shown.text,
        canRetry: shown.canRetry,
        canLogin: shown.canLogin,
      });
      if (err.kind === 'unauthenticated') notifyUnauthenticated();
    },

    showEmpty(note: string) {
      this.setData({ view: 'empty', card: null, backgrounds: [], openNote: note });
      void this.prepareTicket();
    },

    /** Fetches the card-opening parameters unless a fresh set is at hand, and schedules their renewal. */
    prepareTicket(): Promise<void> {
      const state = own(this);
      if (state.ticket && isFresh(state.ticket)) {
        this.setData({ ticketReady: true });
        this.scheduleTicket();
        return Promise.resolve();
      }
      if (state.ticketRequest) return state.ticketRequest;
      state.ticket = undefined;
      this.setData({ ticketReady: false, openError: '' });
      const request = getOpenCardParams().then(
        (answer) => {
          state.ticketRequest = undefined;
          state.ticket = ticketFrom(answer);
          if (state.detached) return;
          this.setData({ ticketReady: true });
          this.scheduleTicket();
        },
        (e: unknown) => {
          state.ticketRequest = undefined;
          if (state.detached || this.data.view !== 'empty') return;
          const err = asMemberCardError(e);
          this.setData({ openError: openErrorText(err) });
          this.triggerEvent('error', errorDetail(err, 'open'));
          if (err.kind === 'unauthenticated') notifyUnauthenticated();
        },
      );
      state.ticketRequest = request;
      return request;
    },

    scheduleTicket() {
      const state = own(this);
      if (state.ticketTimer !== undefined) clearTimeout(state.ticketTimer);
      if (!state.ticket) return;
      state.ticketTimer = setTimeout(() => {
        state.ticketTimer = undefined;
        if (this.data.view === 'empty') void this.prepareTicket();
      }, refetchIn(state.ticket));
    },

    /**
     * The tap on "领取会员卡". Synchronous on purpose: WeChat lets wx.navigateToMiniProgram run only
     * from a tap, so nothing is awaited before it (or before `opencard`, whose handler calls it).
     */
    openCard() {
      const state = own(this);
      const ticket = state.ticket;
      if (!ticket || !isFresh(ticket)) {
        // Nothing fresh to open with: fetch it; the user taps again once the button is ready.
        void this.prepareTicket();
        return;
      }
      // A ticket is handed out once: fetch the next one for any later attempt.
      state.ticket = undefined;
      state.awaitingReturn = true;
      state.leftPage = false;
      this.setData({ openError: '', openNote: '' });
      if (this.data.openMode === 'navigate') {
        wx.navigateToMiniProgram({
          ...ticket.params,
          fail: (res) => {
            state.awaitingReturn = false;
            if (/cancel/i.test(res.errMsg)) return; // the user said no in WeChat's confirm dialog
            const err = memberCardError('open', 'NAVIGATE_FAILED', res.errMsg);
            this.setData({ openError: openErrorText(err) });
            this.triggerEvent('error', errorDetail(err, 'open'));
          },
        });
      } else {
        this.triggerEvent('opencard', ticket.params);
      }
      void this.prepareTicket();
    },

    /** "登录" / "重新登录": the host logs the user in (onUnauthenticated, `login`), then calls refresh(). */
    login() {
      const reason = this.data.view === 'login' ? 'no-session' : 'expired';
      notifyUnauthenticated();
      this.triggerEvent('login', { reason });
    },

    startEdit() {
      const card = this.data.card;
      this.setData({ panel: 'edit', editError: '', selected: card ? card.background : '' });
    },

    cancelEdit() {
      this.setData({ panel: '', editError: '', selected: '' });
    },

    pickBackground(e: WechatMiniprogram.TouchEvent) {
      const url: unknown = e.currentTarget.dataset.url;
      if (typeof url === 'string' && !this.data.saving) this.setData({ selected: url, editError: '' });
    },

    async saveBackground() {
      const { selected, saving, card } = this.data;
      if (saving || !selected) return;
      if (card && selected === card.background) {
        this.setData({ panel: '' });
        return;
      }
      this.setData({ saving: true, editError: '' });
      try {
        const result = await updateBackground(selected);
        this.setData({
          card: cardView(result),
          backgrounds: backgroundOptions(result),
          saving: false,
          panel: '',
          selected: '',
        });
        this.triggerEvent('change', { card: result.card, changed: ['background_picture_url'] });
        void wx.showToast({ title: '背景已更换', icon: 'success' });
      } catch (e) {
        const err = asMemberCardError(e);
        this.setData({ saving: false, editError: saveErrorText(err) });
        this.triggerEvent('error', errorDetail(err, 'save'));
        if (err.kind === 'unauthenticated') notifyUnauthenticated();
      }
    },

    retry() {
      void this.load();
    },
  },
});
