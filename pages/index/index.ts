// The demo host's page: logs in, then shows the plugin's <member-card>. Built with Component()
// (WeChat supports pages made that way), which also lets miniprogram-simulate render it in tests.

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

    openCardPage() {
      void wx.navigateTo({ url: 'plugin://memberCard/my-card' });
    },
  },
});
