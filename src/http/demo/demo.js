// The demo page: the seed's mini-program flow, step for step, against the real endpoints.
//
// 1. activityPlatform/wxActivity/detail shows the activity (?activity_id=1 or a list 1,2,3)
// 2. activityPlatform/wxActivity/apply reserves a seat and returns the SKU
// 3. shop/order/create creates the order (the seed's fields); a member who already has an
//    unpaid order (4001009999) is taken to pay that one, as the real client does
// 4. shop/order/pay; where the mini-program calls wx.requestPayment, the simulator's
//    checkout opens in a sheet
// 5. shop/order/state is polled once a second until "1" (报名成功), "2" (订单已关闭) or
//    "3" (订单已退款)
// Every error envelope is shown as its message.
'use strict';

(() => {
  const COMPANY_ID = '421';
  const BUSINESS_ID = '10000001';
  const LOCATION = { latitude: '22.5483', longitude: '113.9174', city_id: '4403' };
  const PENDING_ORDER = 4001009999;
  const POLL_MS = 1000;

  const query = new URLSearchParams(window.location.search);
  const memberId = (query.get('member_id') || '32171').trim();
  const activityIds = (query.get('activity_id') || '1')
    .split(',')
    .map((id) => id.trim())
    .filter((id) => id !== '');

  const $ = (id) => document.getElementById(id);

  /** A refusal: the envelope's code, message and data (code 0: no envelope at all). */
  class ApiFailure extends Error {
    constructor(code, message, data) {
      super(message);
      this.code = code;
      this.data = data;
    }
  }

  // Server seconds minus client seconds, from the responses' Date headers: the countdown
  // runs on the server's clock. A Date header is truncated to the second, so the largest
  // sample is the closest.
  let clockOffset = null;
  const serverNow = () => Date.now() / 1000 + (clockOffset || 0);

  /** POSTs a urlencoded form (as the seed does) and unwraps the envelope. */
  async function call(path, fields) {
    const body = new URLSearchParams({ company_id: COMPANY_ID, member_id: memberId, ...fields });
    let response;
    try {
      response = await fetch(path, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body,
      });
    } catch (_) {
      throw new ApiFailure(0, '网络错误：无法连接订单中心，请稍后重试', null);
    }
    const date = Date.parse(response.headers.get('Date') || '');
    if (!Number.isNaN(date)) {
      const sample = date / 1000 - Date.now() / 1000;
      clockOffset = clockOffset === null ? sample : Math.max(clockOffset, sample);
    }
    let envelope = null;
    try {
      envelope = await response.json();
    } catch (_) {
      envelope = null;
    }
    if (!envelope || typeof envelope.code !== 'number') {
      throw new ApiFailure(0, `订单中心返回了无法识别的应答（HTTP ${response.status}）`, null);
    }
    if (envelope.code !== 200) {
      throw new ApiFailure(envelope.code, envelope.message || `请求失败（${envelope.code}）`, envelope.data);
    }
    return envelope.data;
  }

  function showError(message) {
    const banner = $('error');
    banner.textContent = message;
    banner.hidden = false;
  }

  function clearError() {
    const banner = $('error');
    banner.textContent = '';
    banner.hidden = true;
  }

  function show(view) {
    for (const name of ['apply', 'order', 'result']) {
      $(`view-${name}`).hidden = name !== view;
    }
    window.scrollTo(0, 0);
  }

  /** While a call is in flight the button is disabled and says so. */
  async function busy(button, label, work) {
    const idle = button.textContent;
    button.disabled = true;
    button.textContent = label;
    try {
      await work();
    } finally {
      button.textContent = idle;
      button.disabled = false;
    }
  }

  const yuan = (value) => Number(value).toFixed(2);

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // ---- 1. the activity --------------------------------------------------------------

  const STATUS_LABEL = { open: '报名中', not_started: '未开始', ended: '已结束', disabled: '已停用' };
  const CLOSED_BUTTON = { not_started: '报名未开始', ended: '报名已结束', disabled: '活动已停用' };

  let activities = [];
  let selectedId = null;

  async function loadActivities() {
    const found = [];
    let failure = null;
    for (const id of activityIds) {
      try {
        found.push(await call('/activityPlatform/wxActivity/detail', { activity_id: id }));
      } catch (error) {
        failure = failure || error;
      }
    }
    activities = found;
    if (!found.some((a) => String(a.activity_id) === String(selectedId))) {
      const open = found.find((a) => a.status === 'open' && a.seats_left > 0);
      selectedId = (open || found[0] || {}).activity_id ?? null;
    }
    renderActivities();
    if (failure) showError(failure.message);
    else if (found.length === 0) showError('没有可报名的活动');
  }

  function renderActivities() {
    const list = $('activities');
    list.replaceChildren();
    for (const activity of activities) {
      const card = element('label', 'activity');
      card.dataset.testid = 'activity';
      const radio = element('input');
      radio.type = 'radio';
      radio.name = 'activity';
      radio.value = activity.activity_id;
      radio.checked = String(activity.activity_id) === String(selectedId);
      radio.addEventListener('change', () => {
        selectedId = activity.activity_id;
        renderActivities();
      });
      card.classList.toggle('selected', radio.checked && activities.length > 1);
      const cover = element('div', 'activity-cover', activity.stadium_name || '活动报名');
      const name = element('h2', 'activity-name', activity.name);
      const badge = element('span', activity.status === 'open' ? 'badge' : 'badge off',
        STATUS_LABEL[activity.status] || activity.status);
      name.append(badge);
      const meta = element('div', 'activity-meta');
      const price = element('span', 'price');
      price.append(element('small', '', '¥'), element('span', '', yuan(activity.price)));
      const seats = element('span', 'seats', '剩余名额 ');
      seats.append(element('b', '', String(activity.seats_left)), ` / ${activity.seats}`);
      meta.append(price, seats);
      card.append(radio, cover, name, meta);
      list.append(card);
    }
    const selected = selectedActivity();
    const button = $('apply-button');
    if (!selected) {
      button.disabled = true;
      button.textContent = '立即报名';
    } else if (selected.status !== 'open') {
      button.disabled = true;
      button.textContent = CLOSED_BUTTON[selected.status] || '暂不可报名';
    } else if (selected.seats_left <= 0) {
      button.disabled = true;
      button.textContent = '名额已满';
    } else {
      button.disabled = false;
      button.textContent = '立即报名';
    }
  }

  const selectedActivity = () =>
    activities.find((a) => String(a.activity_id) === String(selectedId)) || null;

  // ---- 2–3. apply, create (or the unpaid order to pay first) --------------------------

  /** The order on screen. */
  let order = null;

  async function onApply(event) {
    event.preventDefault();
    clearError();
    const activity = selectedActivity();
    const name = $('name').value.trim();
    const phone = $('phone').value.trim();
    if (!activity) return;
    if (name === '') {
      showError('请填写姓名');
      $('name').focus();
      return;
    }
    if (phone === '') {
      showError('请填写手机号');
      $('phone').focus();
      return;
    }
    await busy($('apply-button'), '提交中…', async () => {
      let applied;
      try {
        applied = await call('/activityPlatform/wxActivity/apply', {
          business_id: BUSINESS_ID,
          ...LOCATION,
          activity_id: String(activity.activity_id),
          name,
          phone,
        });
      } catch (error) {
        if (error.code === PENDING_ORDER && error.data && error.data.parent_order_no) {
          await resumeUnpaid(error);
        } else {
          showError(error.message);
          loadActivities();
        }
        return;
      }
      try {
        const created = await call('/shop/order/create', {
          business_id: String(applied.business_id),
          ...LOCATION,
          sys_id: String(applied.sys_id),
          sku_slice: applied.sku_slice,
          business_type: String(applied.business_type),
          request_id: 'ppsport',
          handle_info: JSON.stringify({ platform_id: 3 }),
        });
        showOrder(created, applied.apply_info.apply_id, null);
      } catch (error) {
        showError(error.message);
      }
    });
  }

  /** 4001009999: the member has an unpaid order for this activity; pay that one. */
  async function resumeUnpaid(failure) {
    try {
      const detail = await call('/shop/order/detail', {
        business_id: String(failure.data.business_id || BUSINESS_ID),
        ...LOCATION,
        parent_order_no: failure.data.parent_order_no,
      });
      showOrder(detail, null, failure.message);
    } catch (error) {
      showError(error.message);
    }
  }

  function showOrder(data, applyId, notice) {
    const list = data.list || {};
    const row = list.order || {};
    const item = (list.item || [])[0] || {};
    order = {
      parentOrderNo: data.parent_order_no,
      businessId: String(row.business_id || BUSINESS_ID),
      expireTime: Number(data.expire_time),
      price: row.order_price,
      skuName: item.sku_name || '',
      userInfo: (list.extra || {}).user_info || '',
      // An activity order's SKU is its apply (resuming a 4001009999 order gives no apply_id).
      applyId: applyId ?? (row.business_type === '3001' ? item.sku : null),
    };
    $('order-notice').textContent = notice || '';
    $('order-notice').hidden = !notice;
    $('order-amount').textContent = yuan(order.price);
    $('order-sku').textContent = order.skuName;
    $('order-user').textContent = order.userInfo;
    $('order-no').textContent = order.parentOrderNo;
    $('order-state').textContent = '待支付';
    $('pay-button').disabled = false;
    $('cancel-button').disabled = false;
    show('order');
    startCountdown();
    startPolling();
  }

  // ---- the countdown to expire_time ---------------------------------------------------

  let countdownTimer = null;

  function startCountdown() {
    stopCountdown();
    renderCountdown();
    countdownTimer = setInterval(renderCountdown, 250);
  }

  function stopCountdown() {
    if (countdownTimer !== null) clearInterval(countdownTimer);
    countdownTimer = null;
  }

  function renderCountdown() {
    if (!order) return;
    const left = Math.max(0, Math.ceil(order.expireTime - serverNow()));
    const box = $('countdown');
    box.replaceChildren();
    if (left > 0) {
      const mm = String(Math.floor(left / 60)).padStart(2, '0');
      const ss = String(left % 60).padStart(2, '0');
      box.append('支付剩余时间 ', element('b', '', `${mm}:${ss}`));
      box.classList.remove('over');
    } else {
      box.append('支付已超时，订单关闭中…');
      box.classList.add('over');
      $('pay-button').disabled = true;
    }
  }

  // ---- 4. pay: the checkout stands in for wx.requestPayment ----------------------------

  async function onPay() {
    if (!order) return;
    clearError();
    const paying = order;
    await busy($('pay-button'), '请求支付中…', async () => {
      try {
        const pay = await call('/shop/order/pay', {
          business_id: paying.businessId,
          ...LOCATION,
          parent_order_no: paying.parentOrderNo,
          payment_way: '110',
          extend_field: JSON.stringify({ trade_pay_type: 'umsPay.open.mini', msg_type: 'wx.unifiedOrder' }),
        });
        if (pay.transaction_status === '1' || !pay.prepay_id) {
          startPolling(); // free: paid at once, the state says so
          return;
        }
        // The mini-program would call wx.requestPayment({timeStamp: pay.timestamp,
        // nonceStr: pay.nonce_str, package: 'prepay_id=' + pay.prepay_id,
        // signType: pay.sign_type, paySign: pay.pay_sign}).
        openCheckout(pay.prepay_id);
      } catch (error) {
        showError(error.message);
      }
    });
    renderCountdown();
  }

  function openCheckout(prepayId) {
    $('checkout').src = `/paysim/checkout?prepay_id=${encodeURIComponent(prepayId)}`;
    $('sheet').hidden = false;
  }

  function closeCheckout() {
    $('sheet').hidden = true;
    $('checkout').removeAttribute('src');
  }

  async function onCancel() {
    if (!order) return;
    clearError();
    const cancelling = order;
    await busy($('cancel-button'), '取消中…', async () => {
      try {
        const state = await call('/shop/order/cancel', {
          business_id: cancelling.businessId,
          parent_order_no: cancelling.parentOrderNo,
        });
        onState(state);
      } catch (error) {
        showError(error.message);
      }
    });
  }

  // ---- 5. poll shop/order/state once a second ---------------------------------------------

  let pollGeneration = 0;
  let pollTimer = null;
  let pollFailed = false;

  function stopPolling() {
    pollGeneration += 1;
    if (pollTimer !== null) clearTimeout(pollTimer);
    pollTimer = null;
  }

  function startPolling() {
    stopPolling();
    const generation = pollGeneration;
    const polled = order;
    const tick = async () => {
      pollTimer = null;
      let state = null;
      try {
        state = await call('/shop/order/state', {
          business_id: polled.businessId,
          ...LOCATION,
          parent_order_no: polled.parentOrderNo,
        });
      } catch (error) {
        if (generation !== pollGeneration) return;
        showError(error.message);
        pollFailed = true;
        // A refusal (4xx) will not change by asking again; an outage (5xx, network) may.
        if (error.code >= 4000000000 && error.code < 5000000000) return;
      }
      if (generation !== pollGeneration) return;
      if (state) {
        if (pollFailed) clearError();
        pollFailed = false;
        if (onState(state)) return;
      }
      pollTimer = setTimeout(tick, POLL_MS);
    };
    tick();
  }

  /** Shows a state; true when it is final (polling stops). */
  function onState(state) {
    if (!order || state.parent_order_no !== order.parentOrderNo) return false;
    if (state.expire_time) order.expireTime = Number(state.expire_time);
    switch (state.transaction_status) {
      case '1':
        showResult('paid', state);
        return true;
      case '2':
        showResult('closed', state);
        return true;
      case '3':
        showResult('refunded', state);
        return true;
      default:
        $('order-state').textContent = state.transaction_msg || '待支付';
        return false;
    }
  }

  const ICONS = {
    paid: '<svg viewBox="0 0 24 24" width="36" height="36"><path d="M5 12.5l4.5 4.5L19 7.5" fill="none" stroke="#fff" stroke-width="2.6" stroke-linecap="round" stroke-linejoin="round"/></svg>',
    closed: '<svg viewBox="0 0 24 24" width="36" height="36"><path d="M7 7l10 10M17 7L7 17" fill="none" stroke="#fff" stroke-width="2.6" stroke-linecap="round"/></svg>',
    refunded: '<svg viewBox="0 0 24 24" width="36" height="36"><path d="M9 7L5 11l4 4M5 11h9a5 5 0 010 10h-2" fill="none" stroke="#fff" stroke-width="2.4" stroke-linecap="round" stroke-linejoin="round"/></svg>',
  };

  const OUTCOMES = {
    paid: { title: '报名成功', detail: '支付成功，您已报名该活动' },
    closed: { title: '订单已关闭', detail: '订单未在规定时间内支付或已取消，名额已释放' },
    refunded: { title: '订单已退款', detail: '款项已退回，报名已取消' },
  };

  function showResult(kind, state) {
    stopPolling();
    stopCountdown();
    closeCheckout();
    const shown = order;
    const outcome = OUTCOMES[kind];
    const icon = $('result-icon');
    icon.className = `result-icon ${kind}`;
    icon.innerHTML = ICONS[kind];
    $('result').textContent = outcome.title;
    $('result-detail').textContent = outcome.detail;
    const rows = $('result-rows');
    rows.replaceChildren();
    const addRow = (label, value) => {
      rows.append(element('dt', '', label), element('dd', '', value));
    };
    addRow('活动', shown.skuName);
    addRow('报名人', shown.userInfo);
    addRow('订单号', shown.parentOrderNo);
    addRow('金额', `¥${yuan(state.total_fee)}`);
    if (kind !== 'closed') addRow(kind === 'paid' ? '支付时间' : '下单时间', state.time_end);
    $('apply-again').hidden = kind === 'paid';
    show('result');
    if (kind === 'paid' && shown.applyId) showRegistration(shown.applyId, addRow);
  }

  /** The activity platform's own view of the registration (applyInfo). */
  async function showRegistration(applyId, addRow) {
    const labels = { registered: '已报名', pending_payment: '待支付', cancelled: '已取消' };
    try {
      const info = await call('/activityPlatform/wxActivity/applyInfo', { apply_id: String(applyId) });
      addRow('报名状态', labels[info.status] || info.status);
    } catch (error) {
      showError(error.message);
    }
  }

  function onApplyAgain() {
    clearError();
    order = null;
    show('apply');
    loadActivities();
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('member').textContent = `会员 ${memberId}`;
    $('apply-form').addEventListener('submit', onApply);
    $('pay-button').addEventListener('click', onPay);
    $('cancel-button').addEventListener('click', onCancel);
    $('apply-again').addEventListener('click', onApplyAgain);
    $('sheet-close').addEventListener('click', closeCheckout);
    show('apply');
    loadActivities();
  });
})();
