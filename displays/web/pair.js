import { translator, langToggle } from '/static/hub/i18n.js';
import { api, fillUnits, scopeOf } from './staff-common.js';

const t = translator({
  vi: {
    nav: 'Màn hình', title: 'Ghép nối màn hình', intro: 'Mở /display trên TV, rồi nhập mã 6 ký tự hiện trên màn hình. TV sẽ tự bắt đầu hiển thị, không cần thao tác thêm.',
    code: 'Mã trên màn hình', name: 'Tên màn hình', namePh: 'VD: Phòng một cửa — TV 1', province: 'Tỉnh', commune: 'Xã, phường',
    whole: '— Toàn tỉnh —', layout: 'Bố cục', lCommune: 'Trung tâm điều hành xã', lProvince: 'Tổng hợp toàn tỉnh', lMeeting: 'Phòng họp',
    classification: 'Phân loại', cInternal: 'Nội bộ (đầy đủ)', cPublic: 'Công khai (chỉ số liệu tổng hợp)', screenLang: 'Ngôn ngữ màn hình',
    submit: 'Ghép nối', done: 'Đã ghép nối “{name}” (#{id}). Màn hình sẽ tự hiển thị trong giây lát.', failed: 'Không ghép nối được: {msg}',
  },
  en: {
    nav: 'Screens', title: 'Pair a screen', intro: 'Open /display on the TV, then type the 6-character code it shows. The TV starts showing by itself; nobody needs to touch it again.',
    code: 'Code on the screen', name: 'Screen name', namePh: 'e.g. One-stop office — TV 1', province: 'Province', commune: 'Commune',
    whole: '— Whole province —', layout: 'Layout', lCommune: 'Commune operations', lProvince: 'Province overview', lMeeting: 'Meeting room',
    classification: 'Classification', cInternal: 'Internal (everything)', cPublic: 'Public (aggregates only)', screenLang: 'Screen language',
    submit: 'Pair', done: 'Paired “{name}” (#{id}). The screen starts showing in a moment.', failed: 'Could not pair: {msg}',
  },
});
t.apply();
langToggle(document.getElementById('lang'), () => t.apply());

const $ = (id) => document.getElementById(id);
const q = new URLSearchParams(location.search);
if (q.get('code')) $('code').value = q.get('code');
await fillUnits($('province'), $('commune'), t('whole'), { province: q.get('province') || '11', commune: q.get('commune') || '' });

$('commune').addEventListener('change', () => { if (!$('commune').value) $('layout').value = 'province'; });

$('form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const msg = $('msg');
  msg.className = '';
  msg.textContent = '';
  $('submit').disabled = true;
  try {
    const { display } = await api('POST', '/api/v1/displays/pair', {
      code: $('code').value, name: $('name').value, scope: scopeOf($('province'), $('commune')),
      layout: $('layout').value, classification: $('classification').value, lang: $('screenLang').value,
    });
    msg.className = 'ok';
    msg.textContent = t('done', { name: display.name, id: display.id });
    $('code').value = '';
    $('name').value = '';
  } catch (err) {
    msg.className = 'error';
    msg.textContent = t('failed', { msg: err.message });
  } finally {
    $('submit').disabled = false;
  }
});
