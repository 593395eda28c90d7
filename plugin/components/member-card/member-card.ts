// <member-card>: the signed-in user's WeChat Pay member card, from our HTTP contract only.
// States (lib/views.ts): loading → card | empty (no card: open one) | login | error; after the user
// comes back from opening a card: confirming → card | empty. Under the card, panels: the member code
// for the till, my history, my profile, the background picker. Events: load, error, opencard, login,
// change. A host reaches the instance only through export(): { refresh }.
import {
  getHistory,
  getMemberCode,
  getMyCard,
  getOpenCardParams,
  isNoCard,
  updateBackground,
  type MemberCode,
  type MyCard,
} from '../../lib/api';
import { DEFAULT_CONFIRM_WINDOW_MS, nextDelay } from '../../lib/backoff';
import { raise, restore, type Brightness } from '../../lib/brightness';
import { drawBarcode, drawQr, type CodeCanvas } from '../../lib/code-canvas';
import { historyLine, type HistoryLine } from '../../lib/history';
import { profileRows, type ProfileRow } from '../../lib/profile';
import { getConfig, notifyUnauthenticated } from '../../lib/config';
import { asMemberCardError, errorDetail, memberCardError, type MemberCardError } from '../../lib/errors';
import { isFresh, refetchIn, ticketFrom, type Ticket } from '../../lib/open-card';
import { track, untrack } from '../../lib/registry';
import {
  backgroundOptions,
  brandView,
  cardView,
  codeErrorText,
  errorView,
  groupDigits,
  historyErrorText,
  openErrorText,
  saveErrorText,
  type BackgroundOption,
  type BrandView,
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
  /** The member code on screen, while the code panel is open. */
  code?: MemberCode;
  codeTimer?: number;
  /** Bumped by every code fetch and by closing the panel: a late answer is dropped. */
  codeGeneration: number;
  brightness: Brightness;
  /** The history's next page, null when the last one was read. */
  historyCursor: string | null;
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
    state = {
      generation: 0,
      codeGeneration: 0,
      brightness: { raised: false },
      historyCursor: null,
      awaitingReturn: false,
      leftPage: false,
      detached: false,
    };
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

/** The code's canvases, in rpx as the WXSS sizes them (drawn in device pixels: rpx × width / 750 × ratio). */
const QR_RPX = 400;
const BAR_RPX = { width: 600, height: 150 };
const HISTORY_PAGE = 20;

function devicePixels(rpx: number): number {
  const info = wx.getWindowInfo ? wx.getWindowInfo() : wx.getSystemInfoSync();
  return Math.round(((rpx * info.windowWidth) / 750) * (info.pixelRatio || 1));
}

/** Stops refreshing the code and gives the screen its brightness back. */
function stopCode(state: Private): void {
  state.codeGeneration += 1;
  if (state.codeTimer !== undefined) clearTimeout(state.codeTimer);
  state.codeTimer = undefined;
  restore(state.brightness);
}

const NOT_FOUND_AFTER_OPEN = '暂未查到您的会员卡。如果刚刚已经领取，请稍后点击刷新。';

Component({
  behaviors: ['wx://component-export'],
  externalClasses: ['custom-class', 'card-class', 'button-class'],

  properties: {
    /** No "更换卡面背景" button. */
    hideEdit: { type: Boolean, value: false },
    /** No “会员码” button (the member code for the till). */
    hideCode: { type: Boolean, value: false },
    /** No “明细” button (my history). */
    hideHistory: { type: Boolean, value: false },
    /** No “资料” button (what the member told WeChat). */
    hideProfile: { type: Boolean, value: false },
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
    brand: null as BrandView | null,
    /** The code panel: the digits as shown, which codes to draw, and what went wrong. */
    code: { digits: '', rotating: false, loading: false, error: '' },
    history: [] as HistoryLine[],
    historyLoading: false,
    historyDone: false,
    historyError: '',
    profile: [] as ProfileRow[],
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
      stopCode(state);
      if (state.ticketTimer !== undefined) clearTimeout(state.ticketTimer);
      untrack(this);
    },
  },

  pageLifetimes: {
    hide() {
      const state = own(this);
      if (state.awaitingReturn) state.leftPage = true;
      // The screen is someone else's now; timers stop while the phone sleeps anyway.
      if (this.data.panel === 'code') stopCode(state);
    },
    show() {
      const state = own(this);
      if (this.data.panel === 'code') {
        // The code on screen may have expired while the page was away: a fresh one, at once.
        raise(state.brightness);
        void this.fetchCode();
      }
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
      stopCode(state);
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
      this.setData({
        view: 'card',
        card: cardView(result),
        brand: brandView(result),
        backgrounds: backgroundOptions(result),
        profile: profileRows(result.card || {}),
      });
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

    // ---------------------------------------------------------------- the member code

    /** “会员码”: the code for the till, bright, refreshed before it expires. */
    openCode() {
      const state = own(this);
      this.setData({ panel: 'code', code: { digits: '', rotating: false, loading: true, error: '' } });
      raise(state.brightness);
      void this.fetchCode();
    },

    async fetchCode() {
      const state = own(this);
      const generation = ++state.codeGeneration;
      if (state.codeTimer !== undefined) clearTimeout(state.codeTimer);
      state.codeTimer = undefined;
      this.setData({ 'code.loading': true, 'code.error': '' });
      let answer: MemberCode;
      try {
        answer = await getMemberCode();
      } catch (e) {
        if (generation !== state.codeGeneration || state.detached) return;
        const err = asMemberCardError(e);
        this.setData({ 'code.loading': false, 'code.error': codeErrorText(err) });
        this.triggerEvent('error', errorDetail(err, 'code'));
        if (err.kind === 'unauthenticated') notifyUnauthenticated();
        return;
      }
      if (generation !== state.codeGeneration || state.detached || this.data.panel !== 'code') return;
      state.code = answer;
      this.setData(
        { code: { digits: groupDigits(answer.code), rotating: answer.rotating, loading: false, error: '' } },
        () => this.drawCode(),
      );
      if (answer.rotating && typeof answer.refreshAfter === 'number') {
        state.codeTimer = setTimeout(
          () => {
            state.codeTimer = undefined;
            if (this.data.panel === 'code') void this.fetchCode();
          },
          Math.max(1, answer.refreshAfter) * 1000,
        );
      }
    },

    /** Draws the code on the panel's canvases (they exist once the panel has rendered). */
    drawCode() {
      const state = own(this);
      const code = state.code;
      const brand = this.data.brand;
      if (!code || !brand) return;
      const query = this.createSelectorQuery();
      if (brand.showBar) query.select('#mc-barcode').fields({ node: true, size: true });
      if (brand.showQr) query.select('#mc-qr').fields({ node: true, size: true });
      query.exec((res: Array<{ node?: CodeCanvas } | null>) => {
        if (state.code !== code) return; // a newer code is being drawn
        // One answer per select, in the order asked.
        const bar = brand.showBar ? res[0] : null;
        const qr = brand.showQr ? res[brand.showBar ? 1 : 0] : null;
        if (bar?.node) drawBarcode(bar.node, code.code, devicePixels(BAR_RPX.width), devicePixels(BAR_RPX.height));
        if (qr?.node) drawQr(qr.node, code.code, devicePixels(QR_RPX));
      });
    },

    /** Closes whatever panel is open (the code: brightness back, no more refreshing). */
    closePanel() {
      if (this.data.panel === 'code') stopCode(own(this));
      own(this).code = undefined;
      this.setData({ panel: '', editError: '' });
    },

    // ---------------------------------------------------------------- my history

    openHistory() {
      const state = own(this);
      if (this.data.panel === 'code') stopCode(state);
      state.historyCursor = null;
      this.setData({ panel: 'history', history: [], historyDone: false, historyError: '' });
      void this.loadMoreHistory();
    },

    /** The next page (the scroll view reached its end, or “重试”). */
    async loadMoreHistory() {
      const state = own(this);
      if (this.data.panel !== 'history' || this.data.historyLoading || this.data.historyDone) return;
      this.setData({ historyLoading: true, historyError: '' });
      try {
        const page = await getHistory(state.historyCursor, HISTORY_PAGE);
        if (state.detached || this.data.panel !== 'history') return;
        const start = this.data.history.length;
        state.historyCursor = page.next;
        this.setData({
          history: this.data.history.concat(page.items.map((item, i) => historyLine(item, start + i))),
          historyLoading: false,
          historyDone: !page.next,
        });
      } catch (e) {
        if (state.detached) return;
        const err = asMemberCardError(e);
        this.setData({ historyLoading: false, historyError: historyErrorText(err) });
        this.triggerEvent('error', errorDetail(err, 'history'));
        if (err.kind === 'unauthenticated') notifyUnauthenticated();
      }
    },

    // ---------------------------------------------------------------- my profile

    openProfile() {
      if (this.data.panel === 'code') stopCode(own(this));
      this.setData({ panel: 'profile' });
    },

    // ---------------------------------------------------------------- the background picker

    startEdit() {
      if (this.data.panel === 'code') stopCode(own(this));
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
