// The screen at full brightness while the member code is open, as it was before once it closes
// (wx.setScreenBrightness, base 1.2.0, plugins 1.9.6+). WeChat documents no automatic restore, so
// the component restores it on close, on the page's hide and when it is detached.

export interface Brightness {
  raised: boolean;
  /** What the screen was set to before we raised it (undefined until wx.getScreenBrightness answered). */
  saved?: number;
}

export function raise(state: Brightness): void {
  if (state.raised) return;
  state.raised = true;
  const full = () => {
    if (state.raised) void wx.setScreenBrightness({ value: 1 });
  };
  wx.getScreenBrightness({
    success: (res) => {
      if (!state.raised) return; // closed meanwhile: we never changed it
      state.saved = res.value;
      full();
    },
    // Unknown before: still light the code up; the system takes over again after (-1 is not documented for iOS).
    fail: full,
  });
}

export function restore(state: Brightness): void {
  if (!state.raised) return;
  state.raised = false;
  const saved = state.saved;
  state.saved = undefined;
  if (saved !== undefined) void wx.setScreenBrightness({ value: saved });
}
