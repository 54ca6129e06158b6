"""The words of Tanji's pages in Chinese (the default) and English.  One catalogue for
the gateway's page and the console; a key missing in one language is a test failure,
never an empty label."""

from __future__ import annotations

LANGS = ('zh', 'en')
DEFAULT = 'zh'

MESSAGES: dict[str, dict[str, str]] = {
    'tanji': {'zh': '碳计', 'en': 'Tanji'},
    'gateway': {'zh': '采集网关', 'en': 'Gateway'},
    'other_lang': {'zh': 'English', 'en': '中文'},
    'setup_title': {'zh': '首次设置：创建管理员账号', 'en': 'First start: create the administrator'},
    'setup_intro': {'zh': '本网关尚无任何账号。请设置管理员的用户名和密码；此后所有页面都需要登录。',
                    'en': 'This gateway has no account yet. Choose the administrator\'s name and password; '
                          'every page needs a sign-in from then on.'},
    'name': {'zh': '用户名', 'en': 'Name'},
    'password': {'zh': '密码', 'en': 'Password'},
    'password_again': {'zh': '再次输入密码', 'en': 'Password again'},
    'role': {'zh': '角色', 'en': 'Role'},
    'create_admin': {'zh': '创建管理员', 'en': 'Create administrator'},
    'signin_title': {'zh': '登录', 'en': 'Sign in'},
    'signin': {'zh': '登录', 'en': 'Sign in'},
    'signout': {'zh': '退出', 'en': 'Sign out'},
    'signed_in_as': {'zh': '当前用户', 'en': 'Signed in as'},
    'dashboard': {'zh': '运行概况', 'en': 'Dashboard'},
    'health': {'zh': '网关状态', 'en': 'Gateway health'},
    'version': {'zh': '软件版本', 'en': 'Version'},
    'uptime': {'zh': '运行时间', 'en': 'Uptime'},
    'cpu': {'zh': 'CPU 负载', 'en': 'CPU load'},
    'memory': {'zh': '内存', 'en': 'Memory'},
    'disk': {'zh': '存储', 'en': 'Disk'},
    'log': {'zh': '数据日志', 'en': 'Log'},
    'durable_up_to': {'zh': '已落盘至序号', 'en': 'Durable up to sequence'},
    'alarms': {'zh': '告警', 'en': 'Alarms'},
    'no_alarms': {'zh': '无告警', 'en': 'No alarms'},
    'centres': {'zh': '数据中心', 'en': 'Data centres'},
    'centre': {'zh': '数据中心', 'en': 'Centre'},
    'state': {'zh': '状态', 'en': 'State'},
    'acknowledged': {'zh': '已确认至', 'en': 'Acknowledged up to'},
    'backlog': {'zh': '待上传', 'en': 'Backlog'},
    'readings': {'zh': '条读数', 'en': 'readings'},
    'next_upload': {'zh': '下次上传', 'en': 'Next upload'},
    'last_error': {'zh': '最近错误', 'en': 'Last error'},
    'send_now': {'zh': '立即上传', 'en': 'Send now'},
    'sent_now': {'zh': '已请求立即上传至 {centre}。', 'en': 'Upload to {centre} requested.'},
    'points': {'zh': '测点', 'en': 'Points'},
    'point': {'zh': '测点', 'en': 'Point'},
    'code': {'zh': '数据项编码', 'en': 'Code'},
    'last_value': {'zh': '最新值', 'en': 'Last value'},
    'last_time': {'zh': '时间', 'en': 'Time'},
    'flags': {'zh': '质量标志', 'en': 'Flags'},
    'good': {'zh': '有效', 'en': 'good'},
    'missing': {'zh': '缺失', 'en': 'missing'},
    'buses': {'zh': '总线与仪表', 'en': 'Buses and meters'},
    'bus': {'zh': '总线', 'en': 'Bus'},
    'meter': {'zh': '仪表', 'en': 'Meter'},
    'up': {'zh': '正常', 'en': 'up'},
    'down': {'zh': '中断', 'en': 'down'},
    'degraded': {'zh': '降级', 'en': 'degraded'},
    'ok': {'zh': '正常', 'en': 'ok'},
    'none_yet': {'zh': '暂无', 'en': 'none yet'},
    'audit': {'zh': '操作记录', 'en': 'Audit log'},
    'when': {'zh': '时间', 'en': 'When'},
    'who': {'zh': '操作人', 'en': 'Who'},
    'action': {'zh': '操作', 'en': 'Action'},
    'detail': {'zh': '详情', 'en': 'Detail'},
    'forbidden': {'zh': '您的角色无权执行此操作。', 'en': 'Your role may not do this.'},
    'csrf_failed': {'zh': '表单已过期或来源不明，请重新打开页面后再提交。',
                    'en': 'The form has expired or did not come from this page; open the page again and resubmit.'},
    'not_found': {'zh': '没有这个页面。', 'en': 'No such page.'},
    'seconds': {'zh': '秒', 'en': 's'},
    # field errors (shared/web/accounts.py AccountError messages)
    'bad_name': {'zh': '用户名为 1–32 个字母、数字或 . _ -', 'en': 'A name is 1–32 letters, digits or . _ -'},
    'bad_role': {'zh': '角色须为查看、操作或管理', 'en': 'The role must be viewer, operator or admin'},
    'first_is_admin': {'zh': '第一个账号必须是管理员', 'en': 'The first account must be an admin'},
    'too_short': {'zh': '密码至少 10 个字符', 'en': 'A password has at least 10 characters'},
    'too_simple': {'zh': '密码过于简单（不能与用户名相同，至少 4 种不同字符）',
                   'en': 'Too simple (not the name, at least 4 different characters)'},
    'name_taken': {'zh': '该用户名已存在', 'en': 'That name is taken'},
    'no_such_account': {'zh': '没有这个账号', 'en': 'No such account'},
    'bad_credentials': {'zh': '用户名或密码错误', 'en': 'Wrong name or password'},
    'locked': {'zh': '连续输错密码次数过多，账号已锁定 15 分钟', 'en': 'Too many wrong passwords: locked for 15 minutes'},
    'mismatch': {'zh': '两次输入的密码不一致', 'en': 'The two passwords differ'},
    # a centre's delivery state (shared/delivery/machine.py)
    'idle': {'zh': '空闲', 'en': 'idle'},
    'sending': {'zh': '发送中', 'en': 'sending'},
    'draining': {'zh': '补传中', 'en': 'catching up'},
    'backoff': {'zh': '重试等待', 'en': 'waiting to retry'},
    'viewer': {'zh': '查看', 'en': 'viewer'},
    'operator': {'zh': '操作', 'en': 'operator'},
    'admin': {'zh': '管理', 'en': 'admin'},
}


def translate(key: str, lang: str, **values: object) -> str:
    entry = MESSAGES.get(key)
    if entry is None:
        return key
    text = entry.get(lang) or entry[DEFAULT]
    return text.format(**values) if values else text
