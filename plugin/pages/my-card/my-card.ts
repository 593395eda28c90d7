// The plugin's page "my-card": the member-card component on a page of its own. A host opens it
// with wx.navigateTo({ url: 'plugin://memberCard/my-card' }) after calling configure(). On this
// page the plugin has page permission, so the component opens the card-opening mini-program itself
// (open-mode="navigate"). Built with Component() (WeChat supports pages made that way), so tests
// can render it too.
Component({
  data: {},
});
