// A host page embedding <member-card>, as a merchant's mini-program would: it listens to every event,
// opens the card-opening mini-program from `opencard` with the host's own wx (inside the tap), and can
// reach the component only through selectComponent (what its export() returns).
import { mountDefinedPage, simulate, type Rendered } from './simulator.js';
import { hostWx } from './wechat.js';

export interface HostEvent {
  name: string;
  detail: any;
}

export interface HostPageOptions {
  /** <member-card>'s properties: openMode, hideEdit, hideCode, hideHistory, hideProfile, compact. */
  properties?: {
    openMode?: string;
    hideEdit?: boolean;
    hideCode?: boolean;
    hideHistory?: boolean;
    hideProfile?: boolean;
    compact?: boolean;
  };
  /** Awaits before wx.navigateToMiniProgram in the `opencard` handler: the mistake WeChat refuses. */
  lateOpen?: boolean;
}

export interface HostPage {
  page: Rendered;
  card: Rendered;
  events: HostEvent[];
  /** errMsg of every wx.navigateToMiniProgram the host page made. */
  navigations: string[];
  /** What the host's `this.selectComponent('#card')` returns. */
  selectCard(): unknown;
}

/** The host page's external classes for the component, so a test can find them in the render. */
export const HOST_CLASSES = { custom: 'host-root', card: 'host-card-face', button: 'host-button' };

export function mountHostPage(componentPath: string, options: HostPageOptions = {}): HostPage {
  const cardId = simulate.load(componentPath, 'member-card');
  const events: HostEvent[] = [];
  const navigations: string[] = [];
  const record = (e: { type: string; detail: unknown }) => events.push({ name: e.type, detail: e.detail });
  const page = mountDefinedPage('host', {
    template: `<view class="host">
      <member-card id="card" class="host__card" open-mode="{{openMode}}" hide-edit="{{hideEdit}}" compact="{{compact}}"
        hide-code="{{hideCode}}" hide-history="{{hideHistory}}" hide-profile="{{hideProfile}}"
        custom-class="${HOST_CLASSES.custom}" card-class="${HOST_CLASSES.card}" button-class="${HOST_CLASSES.button}"
        bindload="onEvent" binderror="onEvent" bindchange="onEvent" bindlogin="onEvent" bindopencard="onOpenCard">
      </member-card>
    </view>`,
    usingComponents: { 'member-card': cardId },
    data: {
      openMode: 'event',
      hideEdit: false,
      hideCode: false,
      hideHistory: false,
      hideProfile: false,
      compact: false,
      ...options.properties,
    },
    methods: {
      onEvent: record,
      onOpenCard(e: { type: string; detail: Record<string, unknown> }) {
        record(e);
        const open = () =>
          hostWx.navigateToMiniProgram({
            ...e.detail,
            success: (r: { errMsg: string }) => navigations.push(r.errMsg),
            fail: (r: { errMsg: string }) => navigations.push(r.errMsg),
          });
        if (options.lateOpen) void Promise.resolve().then(open);
        else open();
      },
      selectCard(this: { selectComponent(selector: string): unknown }) {
        return this.selectComponent('#card');
      },
    },
  });
  const card = page.querySelector('#card');
  if (!card) throw new Error('the host page has no #card');
  return { page, card, events, navigations, selectCard: () => (page.instance.selectCard as () => unknown)() };
}
