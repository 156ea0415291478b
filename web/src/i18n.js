// Interface text in simplified Chinese (default) and English. Data from the
// server (grid names, class names, workers) is shown as stored, in Chinese.

export const TEXT = {
  zh: {
    title: '城市网格化管理',
    'lang.switch': 'English',
    'auth.signin': '登录',
    'auth.title': '登录',
    'auth.token': '令牌',
    'auth.go': '登录',
    'auth.out': '退出登录',
    'auth.as': '已登录：{name}（{role}）',
    'auth.public': '未登录：只显示公开的数据（网格员姓名不公开）',
    'auth.hint': '粘贴管理员发给您的 API 密钥（wangge token create）或单位身份系统的令牌。令牌只保存在本标签页，关闭即失效。',
    'auth.checking': '正在验证…',
    'auth.empty': '请先粘贴令牌',
    'auth.refused': '令牌未被接受：{detail}',
    'role.public': '公众',
    'role.viewer': '浏览',
    'role.worker': '网格员',
    'role.department': '部门',
    'role.planner': '规划',
    'role.admin': '管理员',
    'map.label': '网格地图',
    'search.placeholder': '搜索网格编码、部件编码或名称',
    'search.none': '没有找到“{q}”',
    'search.kind.grid': '网格',
    'search.kind.component': '部件',
    'search.kind.class': '部件类别',
    'legend.button': '图例',
    'legend.title': '图例',
    'legend.levels': '网格层级',
    'legend.components': '城市部件',
    'level.district': '区县',
    'level.street': '街道',
    'level.community': '社区',
    'level.unit': '单元网格',
    'where.button': '我在哪个网格',
    'where.title': '我在哪个网格',
    'where.gps': '使用我的位置',
    'where.pick': '在地图上点选',
    'where.pick.hint': '请在地图上点击一个位置',
    'where.lon': '经度',
    'where.lat': '纬度',
    'where.crs': '坐标系',
    'where.go': '查询',
    'where.locating': '正在获取位置…',
    'where.denied': '无法获取位置：{reason}。可在地图上点选或输入坐标。',
    'where.unsupported': '此浏览器不提供定位。可在地图上点选或输入坐标。',
    'where.insecure': '浏览器只向 https 网页提供位置，本页是 http。可在地图上点选或输入坐标；或请管理员启用 https。',
    'where.bad': '请输入经度和纬度（十进制度），例如 118.78 和 32.06',
    'where.inside': '位于网格内',
    'where.outside': '不在任何网格内；最近的网格距此 {m}',
    'where.border': '距网格边界 {m}',
    'where.onborder': '位于网格边界上',
    'crs.wgs84': 'WGS84（GPS）',
    'crs.gcj02': 'GCJ-02（高德、腾讯）',
    'crs.bd09': 'BD-09（百度）',
    'choro.button': '专题图',
    'choro.title': '部件数量专题图',
    'choro.level': '网格层级',
    'choro.class': '部件类别',
    'choro.all': '全部部件',
    'choro.loading': '正在统计…',
    'choro.summary': '{n} 个网格，共 {total} 个部件',
    'choro.hint': '专题图显示时隐藏部件点；再点“专题图”返回。',
    'choro.zoomin': '{level}从第 {z} 级起显示，请放大地图',
    'panel.close': '关闭',
    'grid.code': '编码',
    'grid.level': '层级',
    'grid.chain': '上级',
    'grid.worker': '网格员',
    'grid.area': '面积',
    'grid.children': '下级网格',
    'grid.components': '部件',
    'grid.byclass': '按类别',
    'grid.none': '无部件',
    'comp.code': '部件编码',
    'comp.class': '类别',
    'comp.state': '状态',
    'comp.owner': '权属单位',
    'comp.maintainer': '养护单位',
    'comp.department': '主管部门',
    'comp.initial': '初始日期',
    'comp.changed': '变更日期',
    'comp.grid': '所在网格',
    'comp.source': '数据来源',
    'state.intact': '完好',
    'state.damaged': '破损',
    'state.lost': '丢失',
    'state.occupied': '占用',
    'error.network': '无法连接服务器：{detail}',
    'error.server': '服务器返回错误：{detail}',
  },
  en: {
    title: 'Urban grid management',
    'lang.switch': '中文',
    'auth.signin': 'Sign in',
    'auth.title': 'Sign in',
    'auth.token': 'Token',
    'auth.go': 'Sign in',
    'auth.out': 'Sign out',
    'auth.as': 'Signed in: {name} ({role})',
    'auth.public': 'Not signed in: public data only (grid workers\' names are not public)',
    'auth.hint': 'Paste the API key your administrator gave you (wangge token create) or a token of your organisation\'s identity provider. It is kept in this tab only and ends with it.',
    'auth.checking': 'Checking…',
    'auth.empty': 'Paste a token first',
    'auth.refused': 'The token was not accepted: {detail}',
    'role.public': 'public',
    'role.viewer': 'viewer',
    'role.worker': 'grid worker',
    'role.department': 'department',
    'role.planner': 'planner',
    'role.admin': 'admin',
    'map.label': 'Grid map',
    'search.placeholder': 'Search a grid code, component code or name',
    'search.none': 'Nothing found for “{q}”',
    'search.kind.grid': 'Grid',
    'search.kind.component': 'Component',
    'search.kind.class': 'Class',
    'legend.button': 'Legend',
    'legend.title': 'Legend',
    'legend.levels': 'Grid levels',
    'legend.components': 'City components',
    'level.district': 'District',
    'level.street': 'Street',
    'level.community': 'Community',
    'level.unit': 'Unit grid',
    'where.button': 'Which grid am I in',
    'where.title': 'Which grid am I in',
    'where.gps': 'Use my location',
    'where.pick': 'Pick on the map',
    'where.pick.hint': 'Click a place on the map',
    'where.lon': 'Longitude',
    'where.lat': 'Latitude',
    'where.crs': 'Coordinates',
    'where.go': 'Look up',
    'where.locating': 'Finding your location…',
    'where.denied': 'No location: {reason}. Pick a point on the map or type coordinates.',
    'where.unsupported': 'This browser gives no location. Pick a point on the map or type coordinates.',
    'where.insecure': 'Browsers give their location only to https pages and this page is http. Pick a point on the map or type coordinates, or ask the administrator for https.',
    'where.bad': 'Type a longitude and a latitude in decimal degrees, e.g. 118.78 and 32.06',
    'where.inside': 'Inside the grid',
    'where.outside': 'Outside every grid; the nearest grid is {m} away',
    'where.border': '{m} from the grid border',
    'where.onborder': 'On the grid border',
    'crs.wgs84': 'WGS84 (GPS)',
    'crs.gcj02': 'GCJ-02 (AMap, Tencent)',
    'crs.bd09': 'BD-09 (Baidu)',
    'choro.button': 'Thematic map',
    'choro.title': 'Components per grid',
    'choro.level': 'Grid level',
    'choro.class': 'Class',
    'choro.all': 'All components',
    'choro.loading': 'Counting…',
    'choro.summary': '{n} grids, {total} components',
    'choro.hint': 'Component points are hidden while the thematic map is shown; press “Thematic map” again to go back.',
    'choro.zoomin': '{level} grids are drawn from zoom {z}: zoom in',
    'panel.close': 'Close',
    'grid.code': 'Code',
    'grid.level': 'Level',
    'grid.chain': 'Within',
    'grid.worker': 'Grid worker',
    'grid.area': 'Area',
    'grid.children': 'Child grids',
    'grid.components': 'Components',
    'grid.byclass': 'By class',
    'grid.none': 'No components',
    'comp.code': 'Component code',
    'comp.class': 'Class',
    'comp.state': 'State',
    'comp.owner': 'Owner',
    'comp.maintainer': 'Maintainer',
    'comp.department': 'Department',
    'comp.initial': 'Recorded',
    'comp.changed': 'Changed',
    'comp.grid': 'Grid',
    'comp.source': 'Source',
    'state.intact': 'intact',
    'state.damaged': 'damaged',
    'state.lost': 'lost',
    'state.occupied': 'occupied',
    'error.network': 'Cannot reach the server: {detail}',
    'error.server': 'The server answered with an error: {detail}',
  },
};

/** English names of the national major component classes (GB/T 30428.2). */
const MAJOR_EN = {
  '01': 'Public utilities',
  '02': 'Roads and traffic',
  '03': 'City appearance',
  '04': 'Parks and greenery',
  '05': 'Buildings and land',
  '06': 'Other facilities',
};

let lang = 'zh';

/** The interface language: 'zh' or 'en'. */
export function language() {
  return lang;
}

/** Sets the language and rewrites every marked element of the page. */
export function setLanguage(next) {
  lang = next === 'en' ? 'en' : 'zh';
  document.documentElement.lang = lang === 'en' ? 'en' : 'zh-CN';
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll('[data-i18n-placeholder]')) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  }
  for (const el of document.querySelectorAll('[data-i18n-aria-label]')) {
    el.setAttribute('aria-label', t(el.dataset.i18nAriaLabel));
  }
  document.title = `${lang === 'en' ? 'wangge' : '网格'} · ${t('title')}`;
}

/** The text for `key` in the current language, with `{name}` filled from `vars`. */
export function t(key, vars = {}) {
  const s = TEXT[lang][key] ?? TEXT.zh[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (k in vars ? String(vars[k]) : `{${k}}`));
}

/** A major class's name: the server's Chinese name, or the English one. */
export function majorName(code, chinese) {
  return lang === 'en' && MAJOR_EN[code] ? MAJOR_EN[code] : chinese;
}

/** A number with the current language's grouping. */
export function number(n, digits = 0) {
  return Number(n).toLocaleString(lang === 'en' ? 'en-US' : 'zh-CN', {
    maximumFractionDigits: digits,
  });
}

/** A distance in metres: "35 m" / "35 米", "1.2 km" / "1.2 公里". */
export function metres(m) {
  if (m >= 1000) return lang === 'en' ? `${number(m / 1000, 2)} km` : `${number(m / 1000, 2)} 公里`;
  return lang === 'en' ? `${number(m, 1)} m` : `${number(m, 1)} 米`;
}

/** An area in square metres, in km² from 0.1 km². */
export function area(m2) {
  if (m2 >= 100_000) return `${number(m2 / 1e6, 2)} ${lang === 'en' ? 'km²' : '平方公里'}`;
  return `${number(m2, 0)} ${lang === 'en' ? 'm²' : '平方米'}`;
}
