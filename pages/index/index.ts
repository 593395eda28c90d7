// The demo host's page: logs in, then shows the plugin's <member-card>. It handles the component's
// `opencard` (a plugin component on a host page may not open another mini-program; the host may,
// from the tap: nothing is awaited before the call), `login` (log in, then refresh the card) and
// `topup` (a plugin may not call wx.requestPayment: the host pays, then tells the plugin how it went).
// Built with Component() (WeChat supports pages made that way), so miniprogram-simulate renders it.
import type { DemoAppCustom, MemberCardPlugin } from '../../app';
import type { OpenCardParams, TopupEvent } from '../../plugin/index';

/** All a host gets from selectComponent on the plugin's component: what its export() returns. */
interface MemberCardHandle {
  refresh(): void;
}

Component({
  data: {
    status: 'login' as 'login' | 'ready' | 'failed',
    message: '',
  },

  lifetimes: {
    attached() {
      this.signIn();
    },
  },

  methods: {
    signIn() {
      this.setData({ status: 'login', message: '' });
      getApp<DemoAppCustom>()
        .login()
        .then(
          () => this.setData({ status: 'ready' }),
          (err: Error) => {
            console.warn('demo: login failed', err.message);
            this.setData({ status: 'failed', message: '登录失败，请确认后端服务已启动后重试。' });
          },
        );
    },

    /** `opencard`: open WeChat's card-opening mini-program, synchronously, inside the user's tap. */
    onOpenCard(e: WechatMiniprogram.CustomEvent<OpenCardParams>) {
      wx.navigateToMiniProgram({
        ...e.detail,
        fail: (res) => {
          if (!/cancel/i.test(res.errMsg)) void wx.showToast({ title: '无法打开领卡页面', icon: 'none' });
        },
      });
    },

    /** `topup`: pay with WeChat Pay here, in the host, and hand the outcome back to the plugin. */
    onTopup(e: WechatMiniprogram.CustomEvent<TopupEvent>) {
      const { orderId, payment } = e.detail;
      const plugin = requirePlugin('memberCard') as MemberCardPlugin;
      wx.requestPayment({
        ...payment,
        success: (res) => plugin.topupResult(orderId, res),
        fail: (res) => plugin.topupResult(orderId, res),
      });
    },

    /** `login`: the user tapped "登录" in the card; log in, then have the card load again. */
    onLogin() {
      getApp<DemoAppCustom>()
        .login()
        .then(
          () => (this.selectComponent('#card') as unknown as MemberCardHandle | null)?.refresh(),
          () => this.setData({ status: 'failed', message: '登录失败，请确认后端服务已启动后重试。' }),
        );
    },

    openCardPage() {
      void wx.navigateTo({ url: 'plugin://memberCard/my-card' });
    },
  },
});
