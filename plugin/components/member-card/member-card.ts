// <member-card>: the signed-in user's WeChat Pay member card, from our HTTP contract only.
// States: loading → card | empty (no card: open one) | error (network, 401, 5xx, …).
import { ApiError, getMyCard, getOpenCardParams, updateBackground, type MyCard } from '../../lib/api';
import { getConfig } from '../../lib/config';
import { formatFen, formatPoints, statusName } from '../../lib/format';

type View = 'loading' | 'empty' | 'card' | 'error';

interface CardView {
  background: string;
  avatar: string;
  nickname: string;
  level: string;
  membershipNumber: string;
  balanceText: string;
  pointsText: string;
  status: string;
  statusText: string;
  effective: boolean;
}

interface BackgroundOption {
  url: string;
  current: boolean;
}

interface ErrorView {
  title: string;
  text: string;
  canRetry: boolean;
}

function cardView(result: MyCard): CardView {
  const card = result.card || {};
  const status = card.user_card_status || '';
  return {
    background: card.background_picture_url || '',
    avatar: card.head_image_url || '',
    nickname: card.nickname || '微信用户',
    level: card.level || '会员',
    membershipNumber: card.membership_number || card.code || '',
    balanceText: formatFen(card.balance),
    pointsText: formatPoints(card.bonus_value),
    status,
    statusText: statusName(status),
    effective: status === 'EFFECTIVE',
  };
}

function backgroundOptions(result: MyCard): BackgroundOption[] {
  const list = (result.editable && result.editable.background_picture_url) || [];
  const current = result.card && result.card.background_picture_url;
  return list.filter((url) => typeof url === 'string' && url).map((url) => ({ url, current: url === current }));
}

/** What the user reads when loading the card failed. */
function errorView(err: unknown): ErrorView {
  if (err instanceof ApiError) {
    if (err.kind === 'network')
      return { title: '网络不给力', text: '无法连接到会员卡服务，请检查网络后重试。', canRetry: true };
    if (err.kind === 'config')
      return { title: '会员卡暂不可用', text: '小程序尚未完成会员卡插件的配置。', canRetry: false };
    if (err.status === 401) return { title: '登录已失效', text: '请重新登录后再查看会员卡。', canRetry: true };
    if (err.status === 429) return { title: '操作太频繁', text: '请稍等片刻再试。', canRetry: true };
    if (err.status >= 500) return { title: '服务繁忙', text: '会员卡服务暂时繁忙，请稍后再试。', canRetry: true };
  }
  return { title: '加载失败', text: '暂时无法显示会员卡，请稍后再试。', canRetry: true };
}

/** What the user reads when a save failed (the card itself stays on screen). */
function saveErrorText(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.kind === 'network') return '网络不给力，背景未保存，请重试。';
    if (err.code === 'CARD_NOT_EDITABLE') return '当前会员卡状态不可修改背景。';
    if (err.status === 401) return '登录已失效，请重新登录。';
    if (err.status >= 500) return '服务繁忙，背景未保存，请稍后再试。';
  }
  return '背景未保存，请稍后再试。';
}

function notifyUnauthenticated(err: unknown): void {
  if (!(err instanceof ApiError) || err.status !== 401) return;
  const config = getConfig();
  if (config && config.onUnauthenticated) {
    try {
      config.onUnauthenticated();
    } catch (e) {
      console.error('memberCard: onUnauthenticated threw', e);
    }
  }
}

Component({
  data: {
    view: 'loading' as View,
    card: null as CardView | null,
    backgrounds: [] as BackgroundOption[],
    editing: false,
    selected: '',
    saving: false,
    editError: '',
    opening: false,
    openError: '',
    errorTitle: '',
    errorText: '',
    canRetry: false,
    /** Set after navigating to the card-opening mini-program: reload when the page shows again. */
    awaitingOpen: false,
  },

  lifetimes: {
    attached() {
      void this.load();
    },
  },

  pageLifetimes: {
    show() {
      if (this.data.awaitingOpen) {
        this.setData({ awaitingOpen: false });
        void this.load();
      }
    },
  },

  methods: {
    async load() {
      this.setData({ view: 'loading', editing: false, editError: '', openError: '' });
      try {
        const result = await getMyCard();
        this.show(result);
      } catch (err) {
        if (err instanceof ApiError && err.code === 'CARD_NOT_FOUND') {
          this.setData({ view: 'empty', card: null, backgrounds: [] });
          return;
        }
        const shown = errorView(err);
        this.setData({ view: 'error', errorTitle: shown.title, errorText: shown.text, canRetry: shown.canRetry });
        notifyUnauthenticated(err);
      }
    },

    show(result: MyCard) {
      this.setData({ view: 'card', card: cardView(result), backgrounds: backgroundOptions(result) });
    },

    reload() {
      void this.load();
    },

    async openCard() {
      if (this.data.opening) return;
      this.setData({ opening: true, openError: '' });
      try {
        const params = await getOpenCardParams();
        await new Promise<void>((resolve, reject) => {
          wx.navigateToMiniProgram({
            appId: params.appId,
            path: params.path,
            envVersion: params.envVersion || 'release',
            extraData: params.extraData,
            success: () => resolve(),
            fail: (res) => reject(new Error(res.errMsg)),
          });
        });
        this.setData({ opening: false, awaitingOpen: true });
      } catch (err) {
        const cancelled = !(err instanceof ApiError) && err instanceof Error && /cancel/i.test(err.message);
        this.setData({
          opening: false,
          openError: cancelled ? '' : err instanceof ApiError ? errorView(err).text : '无法打开领卡页面，请稍后再试。',
        });
        notifyUnauthenticated(err);
      }
    },

    startEdit() {
      const card = this.data.card;
      this.setData({ editing: true, editError: '', selected: card ? card.background : '' });
    },

    cancelEdit() {
      this.setData({ editing: false, editError: '', selected: '' });
    },

    pickBackground(e: WechatMiniprogram.TouchEvent) {
      const url: unknown = e.currentTarget.dataset.url;
      if (typeof url === 'string' && !this.data.saving) this.setData({ selected: url, editError: '' });
    },

    async saveBackground() {
      const { selected, saving, card } = this.data;
      if (saving || !selected) return;
      if (card && selected === card.background) {
        this.setData({ editing: false });
        return;
      }
      this.setData({ saving: true, editError: '' });
      try {
        const result = await updateBackground(selected);
        this.show(result);
        this.setData({ saving: false, editing: false, selected: '' });
        void wx.showToast({ title: '背景已更换', icon: 'success' });
      } catch (err) {
        this.setData({ saving: false, editError: saveErrorText(err) });
        notifyUnauthenticated(err);
      }
    },

    retry() {
      void this.load();
    },
  },
});
