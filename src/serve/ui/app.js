"use strict";

// tierlink web UI: hash-routed pages over /api/v1. No framework, no build.
// Every piece of data reaches the DOM as text (textContent, text nodes or
// attributes), never as markup.

const I18N = {
  en: {
    "app.title": "tierlink",
    "nav.review": "Review",
    "nav.customers": "Customers",
    "nav.dashboard": "Dashboard",
    "nav.connectors": "Connectors",
    "nav.push": "Push",
    "lang.switch": "中文",
    "lang.label": "Switch language to Chinese",
    "logout": "Sign out",
    "close": "Dismiss",
    "role.admin": "admin",
    "role.steward": "steward",
    "role.viewer": "viewer",
    "loading": "Loading…",
    "none": "Nothing to show.",
    "refresh": "Refresh",
    "err.network": "The server could not be reached.",
    "err.session": "Your session has ended; sign in again.",
    "err.forbidden": "Your role may not do this.",
    "err.page": "This page could not be loaded.",
    "login.title": "Sign in to tierlink",
    "login.hint": "Paste the API token you were given.",
    "login.token": "API token",
    "login.submit": "Sign in",
    "login.invalid": "This token is not valid.",
    "review.title": "Review queue",
    "review.open": "Open items",
    "review.showing": "showing {0} of {1} open, highest priority first",
    "review.empty": "No open items: every pair is decided.",
    "review.item": "Review item #{0}",
    "review.back": "Back to the queue",
    "review.left": "Left record",
    "review.right": "Right record",
    "review.field": "Field",
    "review.missing": "record not found",
    "review.updated": "updated {0}",
    "review.score": "Score explanation",
    "review.probability": "Probability",
    "review.weight": "Match weight",
    "review.priority": "Priority",
    "review.against": "← against a match",
    "review.for": "for a match →",
    "review.noExplanation": "No field contributions recorded.",
    "review.odds": "Each weight moves the odds of a match: +1 doubles them, −1 halves them.",
    "review.prior": "Starting weight {0}, plus the fields {1}, gives the match weight {2}.",
    "review.formatOnly": "same apart from formatting",
    "review.sameAs": "The other record has {0}, written differently.",
    "review.onlyHere": "Not on the other record.",
    "review.fullWidth": "Written in full-width characters; this is the ordinary form.",
    "review.reason": "Reason (optional)",
    "review.reasonHint": "why you decided so",
    "review.accept": "Accept",
    "review.reject": "Reject",
    "review.skip": "Skip",
    "review.undo": "Undo",
    "review.next": "Next item",
    "review.readOnly": "Your role can view the queue but not decide.",
    "review.decided": "This item was {0} on {1} (decision #{2}).",
    "review.queueDone": "No other open items.",
    "status.open": "open",
    "status.accepted": "accepted",
    "status.rejected": "rejected",
    "outcome.accept": "Accepted: decision #{0}.",
    "outcome.reject": "Rejected: decision #{0}.",
    "outcome.merged": "Merged customer:",
    "outcome.separate": "Customers kept apart:",
    "outcome.summary": "Resolution: {0} records, {1} golden customers; {2} customers updated, {3} ids merged.",
    "outcome.undone": "Decision #{0} undone; the item is open again.",
    "col.id": "ID",
    "col.left": "Left",
    "col.right": "Right",
    "col.created": "Created",
    "col.record": "Record",
    "col.date": "Date",
    "col.status": "Status",
    "col.amount": "Amount",
    "col.channel": "Channel",
    "col.solved": "Solved",
    "col.satisfaction": "Rating",
    "col.direction": "Direction",
    "col.numbers": "Caller → callee",
    "col.talk": "Talk time",
    "col.disposition": "Result",
    "col.party": "Party / phone",
    "col.from": "From",
    "col.to": "To",
    "col.rule": "Rule",
    "col.rulesVersion": "Rules version",
    "col.value": "Value",
    "col.source": "Source record",
    "col.feature": "Feature",
    "col.newId": "New id",
    "col.oldId": "Old id",
    "col.reason": "Reason",
    "col.action": "Action",
    "col.detail": "Detail",
    "col.actor": "By",
    "col.records": "Records",
    "col.tier": "Tier",
    "col.why": "Why",
    "customers.title": "Customers",
    "customers.search": "Search",
    "customers.placeholder": "name, phone, e-mail or company",
    "customers.tier": "Tier",
    "customers.allTiers": "All tiers",
    "customers.go": "Search",
    "customers.count": "{0} customers",
    "customers.limited": "The first {0} matches are shown; narrow the search to find others.",
    "customers.empty": "No customer matches.",
    "customer.fields": "Golden record",
    "customer.pinned": "steward decision",
    "customer.tier": "Tier",
    "customer.noTier": "No tier assigned yet.",
    "customer.rule": "Rule",
    "customer.assignedAt": "Assigned",
    "customer.rulesVersion": "Rules version",
    "customer.condition": "Condition",
    "customer.features": "Values the condition read",
    "customer.defaultRule": "No rule matched, so the default tier applies.",
    "customer.defaultShort": "no rule matched",
    "customer.noValue": "no value",
    "customer.history": "Tier history",
    "customer.records": "Linked source records ({0})",
    "customer.raw": "Raw payload: {0}",
    "customer.evidence": "Why linked",
    "customer.orders": "Orders ({0}, paid total {1})",
    "customer.tickets": "Tickets ({0})",
    "customer.calls": "Calls ({0})",
    "customer.messages": "Messages ({0})",
    "customer.lineage": "Id lineage",
    "customer.decisions": "Steward decisions",
    "ev.shared": "shared keys: {0}",
    "ev.match": "matched {0} at {1} (weight {2})",
    "ev.strong": "linked to {0} by the same {1}",
    "ev.decisions": "steward decisions: {0}",
    "tier.none": "no tier",
    "tier.new": "(first tier)",
    "tier.untiered": "untiered",
    "dashboard.title": "Tier dashboard",
    "dashboard.rules": "Rules version {0} · {1} customers",
    "dashboard.period": "Period",
    "dashboard.days": "last {0} days",
    "dashboard.distribution": "Distribution",
    "dashboard.migration": "Tier moves, {0} to {1}",
    "dashboard.migrationAxis": "from ↓ to →",
    "dashboard.history": "Customers entering each tier, per day",
    "dashboard.historyAxis": "customers",
    "dashboard.bySource": "Tiers by source system",
    "dashboard.bySourceHint": "Each bar is one system's customers split by tier; the number is how many customers that system holds.",
    "dashboard.customers": "customers",
    "dashboard.noMoves": "No tier changes in this period.",
    "dashboard.tiers": "Tiers",
    "dashboard.goal": "Goal",
    "dashboard.actions": "Actions",
    "connectors.title": "Connectors",
    "connectors.type": "Type",
    "connectors.description": "Description",
    "connectors.streams": "Streams",
    "connectors.schedule": "Schedule",
    "connectors.sink": "Sink",
    "connectors.staged": "Staged",
    "connectors.parties": "Customer records",
    "connectors.orders": "Orders",
    "connectors.rejected": "Rejected",
    "connectors.sync": "Sync now",
    "connectors.syncStarted": "Sync of {0} started.",
    "connectors.unscheduled": "not scheduled",
    "jobs.title": "Jobs",
    "jobs.name": "Job",
    "jobs.next": "Next run",
    "jobs.state": "State",
    "jobs.running": "running",
    "jobs.waiting": "queued",
    "jobs.idle": "idle",
    "job.full": "Full run",
    "job.incremental": "Incremental run",
    "job.retier": "Re-tier",
    "job.push": "Push",
    "job.sync": "Sync {0}",
    "runs.title": "Recent runs",
    "runs.kind": "Kind",
    "runs.started": "Started",
    "runs.finished": "Finished",
    "runs.summary": "Summary",
    "runs.full": "Run full",
    "runs.incremental": "Run incremental",
    "runs.push": "Push",
    "runs.startedMsg": "{0} started.",
    "runs.resolved": "{0} records → {1} customers",
    "runs.tiers": "{0} tier changes",
    "runs.fetched": "{0} rows fetched",
    "runs.pushed": "{0} pushed, {1} failed",
    "runs.failedConnectors": "failed: {0}",
    "runs.details": "Details",
    "push.title": "Push",
    "push.hint": "Tier labels written back to each source system.",
    "push.ledger": "Ledger per system",
    "push.system": "System",
    "push.pending": "Pending",
    "push.delivered": "Delivered",
    "push.failed": "Failed",
    "push.dropped": "Dropped",
    "push.openLetters": "Open dead letters",
    "push.letters": "Open dead letters ({0})",
    "push.noLetters": "No open dead letters.",
    "push.label": "Label",
    "push.attempts": "Attempts",
    "push.updated": "Last tried",
    "push.request": "Request and response",
    "field.name": "Name",
    "field.kind": "Kind",
    "field.phones": "Phones",
    "field.emails": "E-mails",
    "field.company": "Company",
    "field.address": "Address",
    "field.mobile": "Mobile",
    "field.landline": "Landline",
    "field.email": "E-mail",
    "field.city": "City",
    "field.street": "Street",
    "field.uscc": "Credit code",
    "field.unionid": "WeChat unionid",
    "field.wechat_unionid": "WeChat unionid",
    "field.account": "Account",
    "field.order": "Order",
    "field.customer_code": "Customer code",
    "field.contact_person": "Contact person",
    "field.credit_limit": "Credit limit",
    "field.orders_count": "Order count",
    "field.total_spent": "Total spent",
    "field.shopify_tags": "Shopify tags",
    "field.state": "Account state",
    "field.remark": "Remark",
    "field.wecom_type": "WeCom contact type",
    "field.follow_user": "Followed by",
    "field.add_way": "Added via",
    "field.corp_tags": "Corporate tags",
    "field.external_id": "External id",
    "field.organization_id": "Organization id",
    "field.role": "Role",
    "field.active": "Active",
    "field.category_ids": "Categories",
    "field.parent_id": "Parent company",
    "kind.person": "person",
    "kind.company": "company",
    "level.exact": "identical",
    "level.else": "different",
    "level.missing": "nothing to compare",
    "level.numeric_exact": "same number",
    "level.close": "close",
    "level.day/month transposed": "day and month swapped",
    "level.shares1": "a value in common",
    "level.shares": "{0} values in common",
    "level.rare": "a rare value ({0})",
    "level.common": "a common value ({0})",
    "level.similar": "similar (≥ {0})",
    "level.edits": "at most {0} characters apart",
    "level.days": "within {0} days",
    "feature.orders_total": "paid orders, ever",
    "feature.spend_total": "paid order value, ever",
    "feature.avg_order_value": "average order value",
    "feature.refunds": "refunded orders, ever",
    "feature.refunded_amount": "value of refunded orders, ever",
    "feature.orders_window": "paid orders in the last {0} days",
    "feature.spend_window": "paid order value in the last {0} days",
    "feature.recency_days": "days since the last paid order",
    "feature.tenure_days": "days since first seen on any channel",
    "feature.last_interaction_days": "days since the last order, ticket, call or message",
    "feature.tickets_total": "help-desk tickets, ever",
    "feature.tickets_open": "tickets not solved or closed",
    "feature.satisfaction_good_share": "share of good ratings (0–1)",
    "feature.calls_total": "calls, answered or not",
    "feature.call_minutes": "minutes on calls",
    "feature.messages_total": "chats, e-mails and other messages",
    "feature.spend_trend": "spend trend (0.5 = +50%)",
    "feature.lifecycle": "lifecycle stage",
    "feature.rfm.r": "RFM recency score (1–5, 5 = best)",
    "feature.rfm.f": "RFM frequency score (1–5, 5 = best)",
    "feature.rfm.m": "RFM monetary score (1–5, 5 = best)",
    "feature.rfm.segment": "RFM segment",
    "status.succeeded": "succeeded",
    "status.partial": "partly failed",
    "status.failed": "failed",
    "status.running": "running",
    "order.paid": "paid",
    "order.pending": "pending",
    "order.refunded": "refunded",
    "order.cancelled": "cancelled",
    "ticket.new": "new",
    "ticket.open": "open",
    "ticket.pending": "pending",
    "ticket.hold": "on hold",
    "ticket.solved": "solved",
    "ticket.closed": "closed",
    "channel.voice": "phone",
    "channel.web": "web",
    "channel.chat": "chat",
    "channel.email": "e-mail",
    "channel.csat": "satisfaction survey",
    "rating.good": "good",
    "rating.bad": "bad",
    "direction.inbound": "inbound",
    "direction.outbound": "outbound",
    "disposition.ANSWERED": "answered",
    "disposition.NORMAL_CLEARING": "completed",
    "disposition.NO ANSWER": "no answer",
    "disposition.NO_ANSWER": "no answer",
    "disposition.BUSY": "busy",
    "disposition.FAILED": "failed",
    "rule.default": "default",
    "action.accept_match": "match accepted",
    "action.reject_match": "match rejected",
    "action.merge": "merge",
    "action.split": "split",
    "action.set_field": "field set",
    "action.undo": "undo",
  },
  zh: {
    "app.title": "tierlink",
    "nav.review": "待审核",
    "nav.customers": "客户",
    "nav.dashboard": "分层看板",
    "nav.connectors": "连接器",
    "nav.push": "回写",
    "lang.switch": "English",
    "lang.label": "切换为英文",
    "logout": "退出",
    "close": "关闭",
    "role.admin": "管理员",
    "role.steward": "数据管理员",
    "role.viewer": "只读用户",
    "loading": "加载中…",
    "none": "暂无数据。",
    "refresh": "刷新",
    "err.network": "无法连接服务器。",
    "err.session": "登录已失效，请重新登录。",
    "err.forbidden": "您的角色无权执行此操作。",
    "err.page": "页面加载失败。",
    "login.title": "登录 tierlink",
    "login.hint": "请粘贴分配给您的 API 令牌。",
    "login.token": "API 令牌",
    "login.submit": "登录",
    "login.invalid": "令牌无效。",
    "review.title": "审核队列",
    "review.open": "待审核条目",
    "review.showing": "显示 {1} 条待审核中的 {0} 条，按优先级从高到低",
    "review.empty": "没有待审核条目：所有配对均已处理。",
    "review.item": "审核条目 #{0}",
    "review.back": "返回队列",
    "review.left": "左侧记录",
    "review.right": "右侧记录",
    "review.field": "字段",
    "review.missing": "找不到记录",
    "review.updated": "更新于 {0}",
    "review.score": "评分说明",
    "review.probability": "匹配概率",
    "review.weight": "匹配权重",
    "review.priority": "优先级",
    "review.against": "← 不支持合并",
    "review.for": "支持合并 →",
    "review.noExplanation": "没有字段贡献记录。",
    "review.odds": "权重改变匹配的几率：+1 使几率翻倍，−1 使几率减半。",
    "review.prior": "起始权重 {0}，加上各字段 {1}，得到匹配权重 {2}。",
    "review.formatOnly": "仅格式不同",
    "review.sameAs": "另一条记录中为 {0}，写法不同。",
    "review.onlyHere": "另一条记录中没有。",
    "review.fullWidth": "原文为全角字符，此为半角形式。",
    "review.reason": "理由（可选）",
    "review.reasonHint": "做出此决定的原因",
    "review.accept": "接受",
    "review.reject": "拒绝",
    "review.skip": "跳过",
    "review.undo": "撤销",
    "review.next": "下一条",
    "review.readOnly": "您的角色可以查看队列，但不能做决定。",
    "review.decided": "此条目已于 {1} 处理：{0}（决定 #{2}）。",
    "review.queueDone": "没有其他待审核条目。",
    "status.open": "待审核",
    "status.accepted": "已接受",
    "status.rejected": "已拒绝",
    "status.succeeded": "成功",
    "status.partial": "部分失败",
    "status.failed": "失败",
    "status.running": "运行中",
    "outcome.accept": "已接受：决定 #{0}。",
    "outcome.reject": "已拒绝：决定 #{0}。",
    "outcome.merged": "合并后的客户：",
    "outcome.separate": "保持分开的客户：",
    "outcome.summary": "重新解析：{0} 条记录，{1} 个黄金客户；更新 {2} 个客户，合并 {3} 个编号。",
    "outcome.undone": "决定 #{0} 已撤销，条目重新待审核。",
    "col.id": "编号",
    "col.left": "左侧",
    "col.right": "右侧",
    "col.created": "创建时间",
    "col.record": "记录",
    "col.date": "日期",
    "col.status": "状态",
    "col.amount": "金额",
    "col.channel": "渠道",
    "col.solved": "解决时间",
    "col.satisfaction": "评价",
    "col.direction": "方向",
    "col.numbers": "主叫 → 被叫",
    "col.talk": "通话时长",
    "col.disposition": "结果",
    "col.party": "客户 / 电话",
    "col.from": "原分层",
    "col.to": "新分层",
    "col.rule": "规则",
    "col.rulesVersion": "规则版本",
    "col.value": "值",
    "col.source": "来源记录",
    "col.feature": "特征",
    "col.newId": "新编号",
    "col.oldId": "原编号",
    "col.reason": "原因",
    "col.action": "操作",
    "col.detail": "详情",
    "col.actor": "操作人",
    "col.records": "记录数",
    "col.tier": "分层",
    "col.why": "依据",
    "customers.title": "客户",
    "customers.search": "搜索",
    "customers.placeholder": "姓名、电话、邮箱或公司",
    "customers.tier": "分层",
    "customers.allTiers": "全部分层",
    "customers.go": "搜索",
    "customers.count": "共 {0} 位客户",
    "customers.limited": "仅显示前 {0} 位匹配的客户，请缩小搜索范围查找其他客户。",
    "customers.empty": "没有匹配的客户。",
    "customer.fields": "黄金记录",
    "customer.pinned": "人工决定",
    "customer.tier": "分层",
    "customer.noTier": "尚未分层。",
    "customer.rule": "规则",
    "customer.assignedAt": "分配时间",
    "customer.rulesVersion": "规则版本",
    "customer.condition": "条件",
    "customer.features": "条件读取的值",
    "customer.defaultRule": "没有规则匹配，因此采用默认分层。",
    "customer.defaultShort": "无规则匹配",
    "customer.noValue": "无值",
    "customer.history": "分层历史",
    "customer.records": "关联的源记录（{0}）",
    "customer.raw": "原始数据：{0}",
    "customer.evidence": "关联依据",
    "customer.orders": "订单（{0} 笔，已付合计 {1}）",
    "customer.tickets": "工单（{0}）",
    "customer.calls": "通话（{0}）",
    "customer.messages": "消息（{0}）",
    "customer.lineage": "编号沿革",
    "customer.decisions": "人工决定",
    "ev.shared": "共享标识：{0}",
    "ev.match": "与 {0} 匹配，概率 {1}（权重 {2}）",
    "ev.strong": "与 {0} 的{1}相同，直接关联",
    "ev.decisions": "人工决定：{0}",
    "tier.none": "未分层",
    "tier.new": "（首次分层）",
    "tier.untiered": "未分层",
    "dashboard.title": "分层看板",
    "dashboard.rules": "规则版本 {0} · 共 {1} 位客户",
    "dashboard.period": "时间范围",
    "dashboard.days": "最近 {0} 天",
    "dashboard.distribution": "分层分布",
    "dashboard.migration": "分层迁移（{0} 至 {1}）",
    "dashboard.migrationAxis": "原分层 ↓ 新分层 →",
    "dashboard.history": "每日进入各分层的客户数",
    "dashboard.historyAxis": "客户数",
    "dashboard.bySource": "各来源系统的分层",
    "dashboard.bySourceHint": "每个条形表示一个系统的客户按分层的占比；右侧数字为该系统的客户数。",
    "dashboard.customers": "客户数",
    "dashboard.noMoves": "此期间没有分层变化。",
    "dashboard.tiers": "分层说明",
    "dashboard.goal": "目标",
    "dashboard.actions": "措施",
    "connectors.title": "连接器",
    "connectors.type": "类型",
    "connectors.description": "说明",
    "connectors.streams": "数据流",
    "connectors.schedule": "计划",
    "connectors.sink": "回写目标",
    "connectors.staged": "已暂存",
    "connectors.parties": "客户记录",
    "connectors.orders": "订单",
    "connectors.rejected": "已拒收",
    "connectors.sync": "立即同步",
    "connectors.syncStarted": "已开始同步 {0}。",
    "connectors.unscheduled": "未定时",
    "jobs.title": "任务",
    "jobs.name": "任务",
    "jobs.next": "下次运行",
    "jobs.state": "状态",
    "jobs.running": "运行中",
    "jobs.waiting": "排队中",
    "jobs.idle": "空闲",
    "job.full": "全量运行",
    "job.incremental": "增量运行",
    "job.retier": "重新分层",
    "job.push": "回写",
    "job.sync": "同步 {0}",
    "runs.title": "最近运行",
    "runs.kind": "类型",
    "runs.started": "开始",
    "runs.finished": "结束",
    "runs.summary": "摘要",
    "runs.full": "全量运行",
    "runs.incremental": "增量运行",
    "runs.push": "回写",
    "runs.startedMsg": "已开始：{0}。",
    "runs.resolved": "{0} 条记录 → {1} 位客户",
    "runs.tiers": "{0} 个分层变化",
    "runs.fetched": "读取 {0} 行",
    "runs.pushed": "回写 {0} 条，失败 {1} 条",
    "runs.failedConnectors": "失败的连接器：{0}",
    "runs.details": "详情",
    "push.title": "回写",
    "push.hint": "写回各来源系统的分层标签。",
    "push.ledger": "各系统回写台账",
    "push.system": "系统",
    "push.pending": "待发送",
    "push.delivered": "已送达",
    "push.failed": "失败",
    "push.dropped": "已放弃",
    "push.openLetters": "未处理死信",
    "push.letters": "未处理死信（{0}）",
    "push.noLetters": "没有未处理的死信。",
    "push.label": "标签",
    "push.attempts": "尝试次数",
    "push.updated": "最近尝试",
    "push.request": "请求与响应",
    "field.name": "姓名",
    "field.kind": "类型",
    "field.phones": "电话",
    "field.emails": "邮箱",
    "field.company": "公司",
    "field.address": "地址",
    "field.mobile": "手机",
    "field.landline": "座机",
    "field.email": "邮箱",
    "field.city": "城市",
    "field.street": "街道门牌",
    "field.uscc": "统一社会信用代码",
    "field.unionid": "微信 unionid",
    "field.wechat_unionid": "微信 unionid",
    "field.account": "账户",
    "field.order": "订单",
    "field.customer_code": "客户编码",
    "field.contact_person": "联系人",
    "field.credit_limit": "信用额度",
    "field.orders_count": "订单数",
    "field.total_spent": "累计消费",
    "field.shopify_tags": "Shopify 标签",
    "field.state": "账户状态",
    "field.remark": "备注",
    "field.wecom_type": "企业微信联系人类型",
    "field.follow_user": "跟进成员",
    "field.add_way": "添加方式",
    "field.corp_tags": "企业标签",
    "field.external_id": "外部编号",
    "field.organization_id": "组织编号",
    "field.role": "角色",
    "field.active": "有效",
    "field.category_ids": "分类",
    "field.parent_id": "上级公司",
    "kind.person": "个人",
    "kind.company": "公司",
    "level.exact": "完全相同",
    "level.else": "不同",
    "level.missing": "无可比较的值",
    "level.numeric_exact": "数值相同",
    "level.close": "接近",
    "level.day/month transposed": "日月颠倒",
    "level.shares1": "有相同值",
    "level.shares": "有 {0} 个相同值",
    "level.rare": "少见的值（{0}）",
    "level.common": "常见的值（{0}）",
    "level.similar": "相似（≥ {0}）",
    "level.edits": "相差不超过 {0} 个字符",
    "level.days": "相差 {0} 天以内",
    "feature.orders_total": "累计已付订单数",
    "feature.spend_total": "累计已付订单金额",
    "feature.avg_order_value": "平均订单金额",
    "feature.refunds": "累计退款订单数",
    "feature.refunded_amount": "累计退款金额",
    "feature.orders_window": "近 {0} 天已付订单数",
    "feature.spend_window": "近 {0} 天已付订单金额",
    "feature.recency_days": "距上次已付订单的天数",
    "feature.tenure_days": "首次出现至今的天数",
    "feature.last_interaction_days": "距上次订单、工单、通话或消息的天数",
    "feature.tickets_total": "累计工单数",
    "feature.tickets_open": "未解决或未关闭的工单数",
    "feature.satisfaction_good_share": "好评占比（0–1）",
    "feature.calls_total": "通话次数（含未接听）",
    "feature.call_minutes": "通话分钟数",
    "feature.messages_total": "聊天、邮件等消息数",
    "feature.spend_trend": "消费趋势（0.5 = 增长 50%）",
    "feature.lifecycle": "生命周期阶段",
    "feature.rfm.r": "RFM 最近购买得分（1–5，5 为最好）",
    "feature.rfm.f": "RFM 购买频次得分（1–5，5 为最好）",
    "feature.rfm.m": "RFM 消费金额得分（1–5，5 为最好）",
    "feature.rfm.segment": "RFM 分群",
    "order.paid": "已付款",
    "order.pending": "待付款",
    "order.refunded": "已退款",
    "order.cancelled": "已取消",
    "ticket.new": "新建",
    "ticket.open": "处理中",
    "ticket.pending": "待回复",
    "ticket.hold": "挂起",
    "ticket.solved": "已解决",
    "ticket.closed": "已关闭",
    "channel.voice": "电话",
    "channel.web": "网页",
    "channel.chat": "在线聊天",
    "channel.email": "邮件",
    "channel.csat": "满意度调查",
    "rating.good": "好评",
    "rating.bad": "差评",
    "direction.inbound": "呼入",
    "direction.outbound": "呼出",
    "disposition.ANSWERED": "已接听",
    "disposition.NORMAL_CLEARING": "正常结束",
    "disposition.NO ANSWER": "未接听",
    "disposition.NO_ANSWER": "未接听",
    "disposition.BUSY": "占线",
    "disposition.FAILED": "失败",
    "rule.default": "默认",
    "action.accept_match": "接受匹配",
    "action.reject_match": "拒绝匹配",
    "action.merge": "合并",
    "action.split": "拆分",
    "action.set_field": "设定字段",
    "action.undo": "撤销",
  },
};

// One colour per tier, by the tier's position in the rules.
const TIER_COLOURS = ["#2563eb", "#16a34a", "#d97706", "#dc2626", "#7c3aed", "#0891b2", "#db2777", "#65a30d"];
const NO_TIER_COLOUR = "#9ca3af";
const PERIODS = [30, 90, 365];

const state = {
  lang: initialLang(),
  token: localStorage.getItem("tierlink.token"),
  me: null,
  tiers: null,
  seq: 0,
  flashFor: null,
  skipped: new Set(),
};

function initialLang() {
  const saved = localStorage.getItem("tierlink.lang");
  if (saved === "en" || saved === "zh") return saved;
  return (navigator.language || "").toLowerCase().startsWith("zh") ? "zh" : "en";
}

function t(key, ...args) {
  const text = I18N[state.lang][key] ?? I18N.en[key] ?? key;
  return text.replace(/\{(\d+)\}/g, (_, i) => String(args[i] ?? ""));
}

// The translation of key when the dictionary has one, else fallback.
function tOr(key, fallback) {
  return I18N[state.lang][key] ? t(key) : fallback;
}

const fieldLabel = (field) => tOr(`field.${field}`, field);
const statusLabel = (status) => tOr(`status.${status}`, status);

// A coded value (order status, call direction, ...) in words, with the code
// as its tooltip; codes the dictionary does not know stay as they are.
function codeNode(group, code) {
  if (code == null || code === "") return "—";
  const label = tOr(`${group}.${code}`, String(code));
  return label === String(code) ? label : h("span", { title: String(code) }, label);
}

// A job or run kind: full, incremental, retier, push or sync:<connector>.
function jobLabel(name) {
  const [base, connector] = String(name).split(":");
  return base === "sync" && connector ? t("job.sync", connector) : tOr(`job.${name}`, String(name));
}

// Comparison levels as the matcher labels them, in plain words.
const LEVEL_PATTERNS = [
  [/^shares>=1$/, "level.shares1"],
  [/^shares>=(\d+)$/, "level.shares"],
  [/^jaro_winkler>=([\d.]+)$/, "level.similar"],
  [/^(?:damerau_)?levenshtein<=(\d+)$/, "level.edits"],
  [/^within (\d+) days$/, "level.days"],
];

function levelLabel(level) {
  const code = String(level);
  // A term-frequency level: `shares>=1, common (-2)`.
  const adjusted = code.match(/^(.*), (rare|common) \(([+-]\d+)\)$/);
  if (adjusted) return `${levelLabel(adjusted[1])}, ${t(`level.${adjusted[2]}`, adjusted[3])}`;
  if (I18N.en[`level.${code}`]) return t(`level.${code}`);
  for (const [pattern, key] of LEVEL_PATTERNS) {
    const match = code.match(pattern);
    if (match) return t(key, ...match.slice(1));
  }
  return code;
}

// What a tier rule's feature means, or "" for features the UI does not know.
function featureLabel(name) {
  const windowed = String(name).match(/^(orders|spend)_(\d+)d$/);
  if (windowed) return t(`feature.${windowed[1]}_window`, windowed[2]);
  return tOr(`feature.${name}`, "");
}

// ---------- DOM helpers ----------

const $ = (selector, root = document) => root.querySelector(selector);

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

// h("tag", {class, onclick, "data-x": ..., ...}, ...children): strings become text nodes.
function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value == null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "style") for (const [name, v] of Object.entries(value)) el.style.setProperty(name, v);
    else el.setAttribute(key, value === true ? "" : value);
  }
  return append(el, children);
}

const SVG_NS = "http://www.w3.org/2000/svg";

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value != null) el.setAttribute(key, value);
  }
  return append(el, children);
}

function section(title, ...children) {
  return h("section", { class: "card" }, h("h2", {}, title), children);
}

// columns: [{label, cell: item => content, num, nowrap}]; rowProps: item => props of its <tr>.
function dataTable(columns, items, { rowProps, empty } = {}) {
  if (!items.length) return h("p", { class: "empty" }, empty || t("none"));
  return h("div", { class: "table-wrap" }, h("table", { class: "grid" },
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.num ? "num" : null }, c.label)))),
    h("tbody", {}, items.map((item) => h("tr", rowProps ? rowProps(item) : {},
      columns.map((c) => h("td", { class: c.num ? "num" : c.nowrap ? "nowrap" : null }, c.cell(item))))))));
}

function shortcutButton(id, key, label, cls, onclick) {
  return h("button", { type: "button", id, class: cls, "aria-keyshortcuts": key, onclick }, label, " ", h("kbd", {}, key));
}

function details(summary, value) {
  return h("details", {}, h("summary", {}, summary), h("pre", {}, JSON.stringify(value, null, 2)));
}

// ---------- formatting ----------

const locale = () => (state.lang === "zh" ? "zh-CN" : "en-US");
const pad = (n) => String(n).padStart(2, "0");
const fmtNum = (n) => Number(n ?? 0).toLocaleString(locale());
const pct = (p) => `${(Number(p) * 100).toFixed(1)}%`;
// Uncertainty times the customers' value: small for pairs of unknown value, large otherwise.
const fmtPriority = (p) => Number(p).toLocaleString(locale(), { maximumFractionDigits: Math.abs(p) >= 100 ? 0 : 3 });
const signed = (w) => (w >= 0 ? "+" : "") + Number(w).toFixed(2);
const keyText = (key) => (key ? `${key.connector}/${key.source_id}` : "—");
const isoDay = (date) => date.toISOString().slice(0, 10);

function fmtDate(text) {
  if (!text) return "—";
  const d = new Date(text);
  if (Number.isNaN(d.getTime())) return String(text);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function fmtSeconds(total) {
  const sec = Number(total) || 0;
  return sec >= 60 ? `${Math.floor(sec / 60)}:${pad(sec % 60)}` : `${sec}s`;
}

function show(value) {
  if (value == null || value === "") return "—";
  if (Array.isArray(value)) return value.length ? value.map(show).join(", ") : "—";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

const fmtMoney = (amount, currency) =>
  `${Number(amount).toLocaleString(locale(), { minimumFractionDigits: 2, maximumFractionDigits: 2 })}${currency ? ` ${currency}` : ""}`;

// Full-width Latin letters, digits and + - . @, as a Chinese input method types them.
const FULL_WIDTH = /[\uFF0B\uFF0D\uFF0E\uFF10-\uFF19\uFF20-\uFF3A\uFF41-\uFF5A]/;

// One value as text; one written in full-width characters also shows its ordinary form.
function textNode(value) {
  const text = show(value);
  if (!FULL_WIDTH.test(text)) return text;
  return h("span", {}, text, h("span", { class: "plain-form", title: t("review.fullWidth") }, text.normalize("NFKC")));
}

// A value as DOM: lists one item per line, missing values dimmed.
function valueNode(value) {
  if (Array.isArray(value) && value.length) return value.map((v) => h("div", {}, textNode(v)));
  const text = show(value);
  return text === "—" ? h("span", { class: "muted" }, text) : textNode(value);
}

function statusBadge(status) {
  return h("span", { class: `badge status-${String(status).replace(/[^a-z_-]/gi, "")}` }, statusLabel(status));
}

function customerLink(goldenId) {
  return h("a", { class: "customer-link", href: `#/customers/${encodeURIComponent(goldenId)}` }, goldenId);
}

// ---------- tiers ----------

async function loadTiers() {
  state.tiers = state.tiers || (await api("/tiers"));
  return state.tiers;
}

function tierList() {
  return state.tiers ? state.tiers.tiers : [];
}

function tierColour(key) {
  const index = tierList().findIndex((tier) => tier.key === key);
  return index < 0 ? NO_TIER_COLOUR : TIER_COLOURS[index % TIER_COLOURS.length];
}

function tierName(key) {
  if (key == null) return t("tier.none");
  const tier = tierList().find((x) => x.key === key);
  if (!tier) return key;
  return (state.lang === "zh" ? tier.name_zh : tier.name_en) || key;
}

function tierChip(key) {
  return h("span", { class: "tier-chip", style: { "--tier": tierColour(key) }, title: key || "" }, tierName(key));
}

// Tier keys in rule order, then any others the data names.
function tierKeys(extra = []) {
  const keys = tierList().map((tier) => tier.key);
  for (const key of extra) if (key != null && !keys.includes(key)) keys.push(key);
  return keys;
}

// ---------- API ----------

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(path, { method = "GET", body } = {}) {
  const headers = { Authorization: `Bearer ${state.token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(`/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    flash(t("err.network"), "error");
    throw new ApiError(0, err.message);
  }
  const data = await response.json().catch(() => null);
  if (response.ok) return data;
  const message = (data && data.error) || `${response.status} ${response.statusText}`;
  if (response.status === 401) {
    flash(t("err.session"), "error", "#/login");
    signOut();
  } else if (response.status === 403) {
    flash(`${t("err.forbidden")} (${message})`, "error");
  } else {
    flash(message, "error");
  }
  throw new ApiError(response.status, message);
}

// ---------- session, flash, chrome ----------

const isAdmin = () => state.me && state.me.role === "admin";
const canDecide = () => state.me && (state.me.role === "admin" || state.me.role === "steward");
const homeRoute = () => (state.me && state.me.role === "viewer" ? "#/dashboard" : "#/review");

function signOut() {
  state.token = null;
  state.me = null;
  state.tiers = null;
  localStorage.removeItem("tierlink.token");
  go("#/login");
}

// A flash is cleared by the next route change, unless it was raised for the
// route being shown (keepFor), as when a page re-renders after an action.
function flash(message, kind = "info", keepFor = null) {
  const el = $("#flash");
  el.className = kind;
  el.setAttribute("role", kind === "error" ? "alert" : "status");
  el.replaceChildren(h("span", {}, message),
    h("button", { type: "button", class: "flash-close", "aria-label": t("close"), onclick: clearFlash }, "×"));
  el.hidden = false;
  state.flashFor = keepFor;
}

function clearFlash() {
  const el = $("#flash");
  el.hidden = true;
  el.replaceChildren();
  state.flashFor = null;
}

function renderChrome(active) {
  const signedIn = Boolean(state.me);
  document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
  $("#nav").hidden = !signedIn;
  for (const link of document.querySelectorAll("[data-nav]")) {
    link.textContent = t(`nav.${link.dataset.nav}`);
    link.classList.toggle("active", link.dataset.nav === active);
    if (link.dataset.nav === active) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const who = $("#whoami");
  who.hidden = !signedIn;
  who.replaceChildren(...(signedIn ? [h("strong", {}, state.me.name), " ", h("span", { class: "role" }, t(`role.${state.me.role}`))] : []));
  const logout = $("#logout");
  logout.hidden = !signedIn;
  logout.textContent = t("logout");
  const lang = $("#lang");
  lang.textContent = t("lang.switch");
  lang.setAttribute("aria-label", t("lang.label"));
}

// ---------- router ----------

const ROUTES = [
  [/^login$/, pageLogin, null],
  [/^review$/, pageReviewQueue, "review"],
  [/^review\/(\d+)$/, pageReviewItem, "review"],
  [/^customers$/, pageCustomers, "customers"],
  [/^customers\/(.+)$/, pageCustomer, "customers"],
  [/^dashboard$/, pageDashboard, "dashboard"],
  [/^connectors$/, pageConnectors, "connectors"],
  [/^push$/, pagePush, "push"],
];

function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

async function route() {
  const seq = ++state.seq;
  if (state.flashFor !== location.hash) clearFlash();
  const raw = location.hash.replace(/^#\/?/, "");
  const cut = raw.indexOf("?");
  const path = (cut < 0 ? raw : raw.slice(0, cut)).replace(/\/$/, "");
  const params = new URLSearchParams(cut < 0 ? "" : raw.slice(cut + 1));
  if (!state.me && path !== "login") return go("#/login");
  const match = ROUTES.find(([pattern]) => pattern.test(path));
  if (!match || (state.me && path === "login")) return go(state.me ? homeRoute() : "#/login");
  const [pattern, page, nav] = match;
  const args = path.match(pattern).slice(1).map(decodeURIComponent);
  renderChrome(nav);
  document.title = nav ? `${t(`nav.${nav}`)} · ${t("app.title")}` : t("app.title");
  const view = $("#view");
  view.replaceChildren(h("p", { class: "muted loading" }, t("loading")));
  try {
    const content = await page({ args, params });
    if (seq !== state.seq) return;
    view.replaceChildren(content);
    const focus = $("[autofocus]", view);
    if (focus) focus.focus();
  } catch (err) {
    if (seq !== state.seq || err.status === 401) return;
    if (!(err instanceof ApiError)) flash(String(err.message || err), "error");
    view.replaceChildren(h("p", { class: "empty" }, t("err.page")));
  }
}

// Shortcut keys click the visible, enabled button of the page that declares them.
function onKeyDown(event) {
  if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
  const target = event.target;
  if (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName)) return;
  const key = event.key.toUpperCase();
  const button = [...document.querySelectorAll("#view button[aria-keyshortcuts]")].find(
    (b) => b.getAttribute("aria-keyshortcuts") === key && !b.disabled && !b.closest("[hidden]"));
  if (button) {
    event.preventDefault();
    button.click();
  }
}

// ---------- login ----------

function pageLogin() {
  const input = h("input", { id: "token", type: "password", autocomplete: "current-password", required: true, autofocus: true });
  const error = h("p", { id: "login-error", class: "error-text", role: "alert", hidden: true });
  const button = h("button", { id: "login", type: "submit", class: "btn primary" }, t("login.submit"));
  async function submit(event) {
    event.preventDefault();
    error.hidden = true;
    button.disabled = true;
    const token = input.value.trim();
    try {
      const response = await fetch("/api/v1/me", { headers: { Authorization: `Bearer ${token}` } });
      const data = await response.json().catch(() => null);
      if (response.ok) {
        state.token = token;
        state.me = data;
        localStorage.setItem("tierlink.token", token);
        go(homeRoute());
        return;
      }
      error.textContent = response.status === 401 ? t("login.invalid") : (data && data.error) || `${response.status} ${response.statusText}`;
    } catch {
      error.textContent = t("err.network");
    }
    error.hidden = false;
    button.disabled = false;
  }
  return h("form", { class: "card login", onsubmit: submit },
    h("h1", {}, t("login.title")),
    h("p", { class: "muted" }, t("login.hint")),
    h("label", { for: "token" }, t("login.token")), input, button, error);
}

// ---------- review queue ----------

const byPriority = (a, b) => b.priority - a.priority || a.id - b.id;

async function pageReviewQueue() {
  const data = await api("/review?limit=50");
  const items = [...data.items].sort(byPriority);
  const open = (item) => go(`#/review/${item.id}`);
  return h("div", { id: "review-queue" },
    h("div", { class: "page-head" },
      h("h1", {}, t("review.title")),
      h("span", { id: "open-count", class: "badge count", title: t("review.open"), "aria-label": `${t("review.open")}: ${data.open}` }, fmtNum(data.open)),
      h("span", { class: "muted" }, t("review.showing", items.length, data.open))),
    dataTable([
      { label: t("col.id"), cell: (i) => h("a", { href: `#/review/${i.id}` }, `#${i.id}`) },
      { label: t("col.left"), cell: (i) => keyText(i.left) },
      { label: t("col.right"), cell: (i) => keyText(i.right) },
      { label: t("review.probability"), num: true, cell: (i) => probabilityMeter(i.probability) },
      { label: t("review.weight"), num: true, cell: (i) => Number(i.match_weight).toFixed(2) },
      { label: t("review.priority"), num: true, cell: (i) => fmtPriority(i.priority) },
      { label: t("col.created"), nowrap: true, cell: (i) => fmtDate(i.created_at) },
    ], items, {
      empty: t("review.empty"),
      rowProps: (i) => ({ class: "review-row clickable", "data-id": i.id, onclick: (e) => e.target.closest("a") || open(i) }),
    }));
}

function probabilityMeter(p) {
  return h("span", { class: "meter" },
    h("span", { class: "meter-track" }, h("span", { class: "meter-bar", style: { width: pct(p) } })), h("span", {}, pct(p)));
}

// ---------- review item ----------

async function nextOpen(currentId) {
  const data = await api("/review?limit=50");
  const items = data.items.filter((i) => i.id !== currentId).sort(byPriority);
  let next = items.find((i) => !state.skipped.has(i.id));
  if (!next && items.length) {
    state.skipped.clear();
    next = items[0];
  }
  if (next) go(`#/review/${next.id}`);
  else {
    flash(t("review.queueDone"), "info", "#/review");
    go("#/review");
  }
}

// Comparable form of a field value: lists as sorted sets, blanks alike.
function canonical(value) {
  if (value == null || value === "" || (Array.isArray(value) && !value.length)) return "null";
  return JSON.stringify(Array.isArray(value) ? value.map(String).sort() : value);
}

// The part of a value formatting does not change: full-width characters and
// case folded; phone numbers as their national digits (no +86, no trunk 0),
// other text without spaces and punctuation.
function looseKey(value, kind) {
  const text = String(value).normalize("NFKC").toLowerCase().trim();
  if (kind === "phone") return text.replace(/\D/g, "").replace(/^86(?=\d{9})/, "").replace(/^0+/, "");
  if (kind === "exact") return text;
  return text.replace(/[\s\p{P}\p{S}]/gu, "");
}

const listOf = (value) => (value == null || value === "" ? [] : Array.isArray(value) ? value : [value]);

// One side of a differing row. When the sides have values in common, each
// value is marked as written differently on the other side, or as only on
// this side.
function compareCell(value, other, kind) {
  const others = new Map(listOf(other).map((v) => [looseKey(v, kind), show(v)]));
  if (!listOf(value).some((v) => others.has(looseKey(v, kind)))) return valueNode(value);
  return listOf(value).map((v) => {
    const twin = others.get(looseKey(v, kind));
    if (twin === show(v)) return h("div", {}, textNode(v));
    if (twin !== undefined) return h("div", { class: "variant", title: t("review.sameAs", twin) }, textNode(v));
    return h("div", { class: "only", title: t("review.onlyHere") }, textNode(v));
  });
}

function compareTable(left, right) {
  const keysOf = (prop) => [...new Set([...Object.keys((left && left[prop]) || {}), ...Object.keys((right && right[prop]) || {})])].sort();
  // [label, value of a party, how to compare loosely, code behind the label]
  const rows = [
    [t("field.name"), (p) => p.name, "text"],
    [t("field.kind"), (p) => (p.kind ? t(`kind.${p.kind}`) : null), "text"],
    [t("field.phones"), (p) => p.phones, "phone"],
    [t("field.emails"), (p) => p.emails, "exact"],
    [t("field.company"), (p) => p.company, "text"],
    [t("field.address"), (p) => p.address, "text"],
    ...keysOf("strong_ids").map((k) => [fieldLabel(k), (p) => (p.strong_ids || {})[k], "exact", k]),
    ...keysOf("attributes").map((k) => [fieldLabel(k), (p) => (p.attributes || {})[k], "text", k]),
  ];
  const head = (title, party) => h("th", { scope: "col" }, title,
    h("div", { class: "record-key" }, party ? keyText(party) : t("review.missing")),
    party && party.source_updated_at ? h("div", { class: "muted small" }, t("review.updated", fmtDate(party.source_updated_at))) : null);
  const looseSet = (value, kind) => [...new Set(listOf(value).map((v) => looseKey(v, kind)))].sort().join("\n");
  return h("table", { class: "grid compare" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("review.field")), head(t("review.left"), left), head(t("review.right"), right))),
    h("tbody", {}, rows.map(([label, get, kind, code]) => {
      const a = left ? get(left) : null;
      const b = right ? get(right) : null;
      const th = h("th", { scope: "row", title: code }, label);
      if (canonical(a) === canonical(b)) return h("tr", { class: "same" }, th, h("td", {}, valueNode(a)), h("td", {}, valueNode(b)));
      const formatOnly = listOf(a).length > 0 && looseSet(a, kind) === looseSet(b, kind);
      if (formatOnly) th.append(h("div", { class: "format-note" }, t("review.formatOnly")));
      return h("tr", { class: formatOnly ? "diff format-only" : "diff" }, th,
        h("td", {}, compareCell(a, b, kind)), h("td", {}, compareCell(b, a, kind)));
    })));
}

const weightText = (w) => (Math.abs(w) < 0.005 ? "0" : signed(w));

function contributionBars(explanation, matchWeight) {
  if (!explanation.length) return h("p", { class: "empty" }, t("review.noExplanation"));
  const max = Math.max(1e-9, ...explanation.map((c) => Math.abs(c.weight)));
  const fields = explanation.reduce((sum, c) => sum + c.weight, 0);
  return [
    h("div", { class: "contribs" },
      h("div", { class: "contrib contrib-axis muted small", "aria-hidden": "true" },
        h("span", {}), h("span", {}), h("span", { class: "contrib-track" }, h("span", { class: "half neg" }, t("review.against")), h("span", { class: "half pos" }, t("review.for"))), h("span", {})),
      explanation.map((c) => {
        const level = levelLabel(c.level);
        const bar = h("span", { class: `bar ${c.weight >= 0 ? "pos" : "neg"}`, style: { width: `${(Math.abs(c.weight) / max) * 100}%` } });
        return h("div", { class: "contrib", title: `${fieldLabel(c.field)}: ${level} [${c.level}] (${weightText(c.weight)})` },
          h("span", { class: "contrib-field" }, fieldLabel(c.field)),
          h("span", { class: `contrib-level${c.level === "missing" ? " muted" : ""}` },
            h("span", {}, level), level === c.level ? null : h("code", { class: "level-code" }, c.level)),
          h("span", { class: "contrib-track" }, h("span", { class: "half neg" }, c.weight < 0 ? bar : null), h("span", { class: "half pos" }, c.weight >= 0 ? bar : null)),
          h("span", { class: "contrib-weight num" }, weightText(c.weight)));
      })),
    h("p", { class: "muted small contrib-note" }, t("review.prior", signed(matchWeight - fields), signed(fields), signed(matchWeight))),
    h("p", { class: "muted small contrib-note" }, t("review.odds")),
  ];
}

async function pageReviewItem({ args }) {
  const id = Number(args[0]);
  const detail = await api(`/review/${id}`);
  const { item } = detail;
  const nextButton = () => shortcutButton("next", "N", t("review.next"), "btn primary", () => nextOpen(id));
  const reason = h("input", { id: "reason", type: "text", maxlength: 500, placeholder: t("review.reasonHint") });
  const outcome = h("div", { id: "outcome", class: "outcome", "aria-live": "polite", hidden: true });
  const badge = statusBadge(item.status);
  let panel;

  async function decide(action) {
    const buttons = panel.querySelectorAll("button");
    buttons.forEach((b) => (b.disabled = true));
    try {
      const result = await api(`/review/${id}/${action}`, { method: "POST", body: { reason: reason.value.trim() || null } });
      const after = await api(`/review/${id}`).catch(() => null);
      state.skipped.delete(id);
      panel.hidden = true;
      if (after) badge.replaceWith(statusBadge(after.item.status));
      showOutcome(action, result, after);
    } catch (err) {
      buttons.forEach((b) => (b.disabled = false));
      if (!(err instanceof ApiError)) throw err;
    }
  }

  function showOutcome(action, result, after) {
    const decisionId = result.decision.id;
    const resolution = result.resolution || {};
    const changes = resolution.changes || {};
    const ids = (action === "accept" ? [after && after.left_golden_id] : [after && after.left_golden_id, after && after.right_golden_id]).filter(Boolean);
    const undo = shortcutButton("undo", "U", t("review.undo"), "btn", async () => {
      undo.disabled = true;
      try {
        await api(`/decisions/${decisionId}/undo`, { method: "POST", body: { reason: null } });
        flash(t("outcome.undone", decisionId), "info", location.hash);
        route();
      } catch (err) {
        undo.disabled = false;
        if (!(err instanceof ApiError)) throw err;
      }
    });
    const next = nextButton();
    outcome.className = `outcome ${action}`;
    outcome.replaceChildren(
      h("p", { class: "outcome-title" }, t(`outcome.${action}`, decisionId)),
      ids.length ? h("p", {}, t(action === "accept" ? "outcome.merged" : "outcome.separate"), " ",
        ids.flatMap((g, i) => (i ? [", ", customerLink(g)] : [customerLink(g)]))) : null,
      h("p", { class: "muted small" }, t("outcome.summary", resolution.parties == null ? "—" : fmtNum(resolution.parties),
        resolution.golden_customers == null ? "—" : fmtNum(resolution.golden_customers),
        fmtNum(changes.upserted || 0), fmtNum((changes.merged || []).length))),
      h("div", { class: "actions" }, undo, next));
    outcome.hidden = false;
    next.focus();
  }

  if (item.status !== "open") {
    panel = h("div", { class: "decision card" },
      h("p", {}, t("review.decided", statusLabel(item.status), fmtDate(item.decided_at), item.decision_id ?? "—")),
      h("div", { class: "actions" }, nextButton()));
  } else if (canDecide()) {
    panel = h("div", { class: "decision card" },
      h("label", { for: "reason" }, t("review.reason")), reason,
      h("div", { class: "actions" },
        shortcutButton("accept", "A", t("review.accept"), "btn good", () => decide("accept")),
        shortcutButton("reject", "R", t("review.reject"), "btn bad", () => decide("reject")),
        shortcutButton("skip", "S", t("review.skip"), "btn", () => {
          state.skipped.add(id);
          nextOpen(id);
        })));
  } else {
    panel = h("div", { class: "decision card" },
      h("p", { class: "muted" }, t("review.readOnly")),
      h("div", { class: "actions" }, shortcutButton("skip", "S", t("review.skip"), "btn", () => nextOpen(id))));
  }

  return h("div", { id: "review-detail", "data-id": id },
    h("div", { class: "page-head" },
      h("h1", {}, t("review.item", id)), badge,
      h("a", { href: "#/review", class: "muted" }, t("review.back"))),
    h("div", { class: "review-layout" },
      section(`${keyText(item.left)} ↔ ${keyText(item.right)}`, compareTable(detail.left, detail.right)),
      h("div", { class: "review-side" },
        panel, outcome,
        section(t("review.score"),
          h("dl", { class: "stats" },
            h("dt", {}, t("review.probability")), h("dd", {}, pct(item.probability)),
            h("dt", {}, t("review.weight")), h("dd", {}, Number(item.match_weight).toFixed(2)),
            h("dt", {}, t("review.priority")), h("dd", {}, fmtPriority(item.priority))),
          contributionBars(item.explanation || [], Number(item.match_weight))))));
}

// ---------- customers ----------

const SEARCH_LIMIT = 50;

async function pageCustomers({ params }) {
  const q = params.get("q") || "";
  const tier = params.get("tier") || "";
  const query = new URLSearchParams({ limit: String(SEARCH_LIMIT) });
  if (q) query.set("q", q);
  if (tier) query.set("tier", tier);
  const [, data] = await Promise.all([loadTiers(), api(`/customers?${query}`)]);
  const search = h("input", { id: "search", type: "search", value: q, autofocus: true, placeholder: t("customers.placeholder") });
  const select = h("select", { id: "tier-filter", onchange: submit },
    h("option", { value: "" }, t("customers.allTiers")),
    tierList().map((x) => h("option", { value: x.key, selected: x.key === tier }, tierName(x.key))));
  function submit() {
    const next = new URLSearchParams();
    if (search.value.trim()) next.set("q", search.value.trim());
    if (select.value) next.set("tier", select.value);
    go(`#/customers${[...next].length ? `?${next}` : ""}`);
  }
  const customers = data.customers || [];
  return h("div", { id: "customers" },
    h("div", { class: "page-head" }, h("h1", {}, t("customers.title"))),
    h("form", { class: "toolbar", role: "search", onsubmit: (e) => { e.preventDefault(); submit(); } },
      h("label", { for: "search" }, t("customers.search")), search,
      h("label", { for: "tier-filter" }, t("customers.tier")), select,
      h("button", { type: "submit", class: "btn primary" }, t("customers.go"))),
    h("p", { class: "muted small" }, customers.length < SEARCH_LIMIT ? t("customers.count", fmtNum(customers.length)) : t("customers.limited", SEARCH_LIMIT)),
    dataTable([
      { label: t("col.id"), cell: (c) => customerLink(c.golden_id) },
      { label: t("field.name"), cell: (c) => valueNode(c.name) },
      { label: t("field.company"), cell: (c) => valueNode(c.company) },
      { label: t("field.phones"), cell: (c) => valueNode(c.phones) },
      { label: t("field.emails"), cell: (c) => valueNode(c.emails) },
      { label: t("col.tier"), cell: (c) => tierChip(c.tier) },
      { label: t("col.records"), num: true, cell: (c) => fmtNum(c.records) },
    ], customers, {
      empty: t("customers.empty"),
      rowProps: (c) => ({ class: "customer-row clickable", "data-id": c.golden_id, onclick: (e) => e.target.closest("a") || go(`#/customers/${encodeURIComponent(c.golden_id)}`) }),
    }));
}

// ---------- customer 360 ----------

function evidenceText(evidence) {
  if (!evidence || typeof evidence !== "object") return show(evidence);
  const parts = [];
  if (evidence.shared_keys && evidence.shared_keys.length) parts.push(t("ev.shared", evidence.shared_keys.join(", ")));
  if (evidence.match && evidence.match.strong_id) parts.push(t("ev.strong", evidence.match.with, fieldLabel(evidence.match.strong_id)));
  else if (evidence.match) parts.push(t("ev.match", evidence.match.with, pct(evidence.match.probability), Number(evidence.match.weight).toFixed(2)));
  if (evidence.steward_decisions) parts.push(t("ev.decisions", evidence.steward_decisions.map((d) => `#${d}`).join(", ")));
  return parts.length ? parts.join(" · ") : "—";
}

function decisionDetail(decision) {
  const { action, ...rest } = decision;
  switch (action) {
    case "accept_match":
    case "reject_match":
      return `${keyText(rest.left)} ↔ ${keyText(rest.right)} (#${rest.review_id})`;
    case "merge":
      return rest.golden_ids.join(" + ");
    case "split":
      return `${rest.golden_id}: ${rest.leaving.map(keyText).join(", ")}`;
    case "set_field":
      return `${rest.golden_id}.${rest.field} = ${show(rest.value)}`;
    case "undo":
      return `#${rest.decision_id}`;
    default:
      return JSON.stringify(rest);
  }
}

function recordCard(record) {
  const p = record.party;
  // [label, value, code behind the label]
  const rows = [
    [t("field.kind"), p.kind ? t(`kind.${p.kind}`) : null],
    [t("field.phones"), p.phones],
    [t("field.emails"), p.emails],
    [t("field.company"), p.company],
    [t("field.address"), p.address],
    ...Object.entries(p.strong_ids || {}).map(([k, v]) => [fieldLabel(k), v, k]),
    ...Object.entries(p.attributes || {}).map(([k, v]) => [fieldLabel(k), v, k]),
    [t("customer.evidence"), evidenceText(record.evidence)],
  ];
  return h("article", { class: "record" },
    h("div", { class: "record-key" }, keyText(p)),
    h("h3", {}, valueNode(p.name)),
    p.source_updated_at ? h("p", { class: "muted small" }, t("review.updated", fmtDate(p.source_updated_at))) : null,
    h("dl", { class: "fields" }, rows.flatMap(([label, value, code]) => [h("dt", { title: code }, label), h("dd", {}, valueNode(value))])),
    Object.entries(record.raw || {}).map(([stream, raw]) => details(t("customer.raw", stream), raw)));
}

// The fields of the golden record in reading order, then any others by name.
const FIELD_ORDER = ["name", "kind", "phones", "emails", "company", "address"];

function byFieldOrder([a], [b]) {
  const rank = (field) => (FIELD_ORDER.includes(field) ? FIELD_ORDER.indexOf(field) : FIELD_ORDER.length);
  return rank(a) - rank(b) || a.localeCompare(b);
}

// The reason stored with a tier assignment: the condition of the rule that
// matched and the feature values it read ({when, features}).
const NO_RULE = "no rule matched";

function featureText(value) {
  if (value == null) return t("customer.noValue");
  if (typeof value === "number") return value.toLocaleString(locale(), { maximumFractionDigits: 2 });
  return show(value);
}

function ruleReason(reason) {
  if (!reason || typeof reason !== "object" || typeof reason.when !== "string") return h("p", {}, show(reason));
  const features = Object.entries(reason.features || {});
  if (reason.when === NO_RULE && !features.length) return h("p", { class: "muted" }, t("customer.defaultRule"));
  return [
    h("h4", {}, t("customer.condition")),
    h("code", { class: "condition" }, reason.when),
    features.length ? [
      h("h4", {}, t("customer.features")),
      dataTable([
        { label: t("col.feature"), cell: ([name]) => [h("code", {}, name), featureLabel(name) ? h("div", { class: "muted small" }, featureLabel(name)) : null] },
        { label: t("col.value"), num: true, cell: ([, value]) => h("span", { class: value == null ? "muted" : null }, featureText(value)) },
      ], features, { rowProps: () => ({ class: "feature-row" }) }),
    ] : null,
  ];
}

// The same reason on one line or two, for the tier history.
function ruleReasonShort(reason) {
  if (!reason || typeof reason !== "object" || typeof reason.when !== "string") return show(reason);
  const features = Object.entries(reason.features || {});
  if (reason.when === NO_RULE && !features.length) return h("span", { class: "muted" }, t("customer.defaultShort"));
  return [
    h("code", { class: "condition inline" }, reason.when),
    features.length ? h("div", { class: "muted small" }, features.map(([name, value]) => `${name} = ${featureText(value)}`).join(" · ")) : null,
  ];
}

const byDateDesc = (field) => (a, b) => String(b[field]).localeCompare(String(a[field]));

async function pageCustomer({ args }) {
  const [view] = await Promise.all([api(`/customers/${encodeURIComponent(args[0])}`), loadTiers()]);
  const fields = view.fields || {};
  const name = fields.name ? fields.name.value : null;
  const tier = view.tier;
  const paid = view.orders.filter((o) => o.status === "paid").reduce((sum, o) => sum + Number(o.amount), 0);
  const currencies = new Set(view.orders.map((o) => o.currency).filter(Boolean));
  return h("div", { id: "customer", "data-golden-id": view.golden_id },
    h("div", { class: "page-head" },
      h("h1", { id: "customer-name" }, show(name || view.golden_id)),
      h("span", { class: "muted record-key" }, view.golden_id),
      tierChip(tier ? tier.tier : null)),
    h("div", { class: "two-col" },
      section(t("customer.fields"), dataTable([
        { label: t("review.field"), cell: ([f]) => fieldLabel(f) },
        { label: t("col.value"), cell: ([f, v]) => valueNode(f === "kind" ? t(`kind.${v.value}`) : v.value) },
        { label: t("col.source"), cell: ([, v]) => (v.source ? keyText(v.source) : t("customer.pinned")) },
      ], Object.entries(fields).sort(byFieldOrder))),
      h("section", { class: "card", id: "customer-tier" },
        h("h2", {}, t("customer.tier")),
        tier ? [
          h("p", {}, tierChip(tier.tier)),
          h("dl", { class: "stats" },
            h("dt", {}, t("customer.rule")), h("dd", {}, codeNode("rule", tier.rule)),
            h("dt", {}, t("customer.assignedAt")), h("dd", {}, fmtDate(tier.assigned_at)),
            h("dt", {}, t("customer.rulesVersion")), h("dd", { class: "record-key" }, tier.rules_version)),
          ruleReason(tier.reason),
        ] : h("p", { class: "empty" }, t("customer.noTier")))),
    section(t("customer.history"), dataTable([
      { label: t("col.date"), nowrap: true, cell: (c) => fmtDate(c.assignment.assigned_at) },
      { label: t("col.from"), cell: (c) => (c.from_tier ? tierChip(c.from_tier) : h("span", { class: "muted" }, t("tier.new"))) },
      { label: t("col.to"), cell: (c) => tierChip(c.assignment.tier) },
      { label: t("col.rule"), cell: (c) => codeNode("rule", c.assignment.rule) },
      { label: t("col.why"), cell: (c) => ruleReasonShort(c.assignment.reason) },
      { label: t("col.rulesVersion"), cell: (c) => h("span", { class: "record-key", title: c.assignment.rules_version }, String(c.assignment.rules_version).slice(0, 8)) },
    ], [...view.tier_history].sort((a, b) => String(b.assignment.assigned_at).localeCompare(String(a.assignment.assigned_at))))),
    section(t("customer.records", view.records.length), h("div", { class: "records" }, view.records.map(recordCard))),
    section(t("customer.orders", view.orders.length, fmtMoney(paid, currencies.size === 1 ? [...currencies][0] : null)), dataTable([
      { label: t("col.date"), nowrap: true, cell: (o) => fmtDate(o.ordered_at) },
      { label: t("col.record"), cell: keyText },
      { label: t("col.amount"), num: true, cell: (o) => fmtMoney(o.amount, o.currency) },
      { label: t("col.status"), cell: (o) => codeNode("order", o.status) },
    ], [...view.orders].sort(byDateDesc("ordered_at")))),
    section(t("customer.tickets", view.tickets.length), dataTable([
      { label: t("col.created"), nowrap: true, cell: (x) => fmtDate(x.created_at) },
      { label: t("col.record"), cell: keyText },
      { label: t("col.channel"), cell: (x) => codeNode("channel", x.channel) },
      { label: t("col.status"), cell: (x) => codeNode("ticket", x.status) },
      { label: t("col.solved"), nowrap: true, cell: (x) => fmtDate(x.solved_at) },
      { label: t("col.satisfaction"), cell: (x) => codeNode("rating", x.satisfaction) },
    ], [...view.tickets].sort(byDateDesc("created_at")))),
    section(t("customer.calls", view.calls.length), dataTable([
      { label: t("col.date"), nowrap: true, cell: (x) => fmtDate(x.started_at) },
      { label: t("col.record"), cell: keyText },
      { label: t("col.direction"), cell: (x) => codeNode("direction", x.direction) },
      { label: t("col.numbers"), cell: (x) => `${show(x.caller)} → ${show(x.callee)}` },
      { label: t("col.talk"), num: true, cell: (x) => fmtSeconds(x.talk_seconds) },
      { label: t("col.disposition"), cell: (x) => codeNode("disposition", x.disposition) },
    ], [...view.calls].sort(byDateDesc("started_at")))),
    section(t("customer.messages", view.messages.length), dataTable([
      { label: t("col.date"), nowrap: true, cell: (x) => fmtDate(x.sent_at) },
      { label: t("col.record"), cell: keyText },
      { label: t("col.channel"), cell: (x) => codeNode("channel", x.channel) },
      { label: t("col.party"), cell: (x) => show(x.party_source_id || x.phone) },
    ], [...view.messages].sort(byDateDesc("sent_at")))),
    h("div", { class: "two-col" },
      section(t("customer.lineage"), dataTable([
        { label: t("col.newId"), cell: (x) => x.new_id },
        { label: t("col.oldId"), cell: (x) => x.old_id },
        { label: t("col.reason"), cell: (x) => codeNode("action", x.reason) },
      ], view.id_lineage)),
      section(t("customer.decisions"), dataTable([
        { label: t("col.id"), cell: (d) => `#${d.id}` },
        { label: t("col.action"), cell: (d) => codeNode("action", d.decision.action) },
        { label: t("col.detail"), cell: (d) => decisionDetail(d.decision) },
        { label: t("col.actor"), nowrap: true, cell: (d) => d.actor },
        { label: t("col.reason"), cell: (d) => show(d.reason) },
        { label: t("col.date"), nowrap: true, cell: (d) => fmtDate(d.created_at) },
      ], view.decisions))));
}

// ---------- dashboard charts (inline SVG) ----------

const CHART_WIDTH = 600;

function chart(id, height, label, ...children) {
  return s("svg", { id, class: "chart", viewBox: `0 0 ${CHART_WIDTH} ${height}`, role: "img", "aria-label": label }, ...children);
}

function legend(keys) {
  return h("ul", { class: "legend" }, keys.map((key) => h("li", {}, h("span", { class: "swatch", style: { background: tierColour(key) } }), tierName(key))));
}

function distributionChart(data) {
  const rows = data.tiers.map((tier) => ({ key: tier.key, count: tier.count }));
  const tiered = rows.reduce((sum, r) => sum + r.count, 0);
  const all = Number(data.total) || 0;
  if (all > tiered) rows.push({ key: null, count: all - tiered });
  const total = Math.max(all, tiered, 1);
  const max = Math.max(1, ...rows.map((r) => r.count));
  const labelW = 150;
  const barMax = CHART_WIDTH - labelW - 140;
  const rowH = 30;
  return chart("chart-distribution", rows.length * rowH + 10, t("dashboard.distribution"),
    rows.map((r, i) => {
      const y = 5 + i * rowH;
      const w = (r.count / max) * barMax;
      const name = r.key == null ? t("tier.untiered") : tierName(r.key);
      return s("g", {},
        s("title", {}, `${name}: ${fmtNum(r.count)} (${pct(r.count / total)})`),
        s("text", { x: labelW - 8, y: y + 18, "text-anchor": "end", class: "label" }, name),
        s("rect", { x: labelW, y: y + 4, width: Math.max(w, 1), height: rowH - 10, rx: 3, fill: tierColour(r.key) }),
        s("text", { x: labelW + w + 8, y: y + 18, class: "value" }, `${fmtNum(r.count)} · ${pct(r.count / total)}`));
    }));
}

// A chart with nothing to draw: the chart's place, saying so.
function emptyChart(id, label) {
  return chart(id, 60, label, s("text", { x: CHART_WIDTH / 2, y: 34, "text-anchor": "middle", class: "empty-note" }, t("dashboard.noMoves")));
}

function migrationChart(moves) {
  if (!moves.length) return emptyChart("chart-migration", t("dashboard.migrationAxis"));
  const froms = [null, ...tierKeys(moves.map((m) => m.from))];
  const tos = tierKeys(moves.map((m) => m.to));
  const count = (from, to) => moves.filter((m) => (m.from ?? null) === from && m.to === to).reduce((sum, m) => sum + m.count, 0);
  const max = Math.max(1, ...moves.map((m) => m.count));
  const labelW = 130;
  const cellW = (CHART_WIDTH - labelW) / Math.max(tos.length, 1);
  const cellH = 30;
  const top = 36;
  const fromName = (key) => (key == null ? t("tier.new") : tierName(key));
  return chart("chart-migration", top + froms.length * cellH + 4, t("dashboard.migrationAxis"),
    s("text", { x: labelW - 8, y: 22, "text-anchor": "end", class: "axis" }, t("dashboard.migrationAxis")),
    tos.map((to, j) => s("text", { x: labelW + j * cellW + cellW / 2, y: 22, "text-anchor": "middle", class: "label" }, tierName(to))),
    froms.map((from, i) => {
      const y = top + i * cellH;
      return s("g", {},
        s("text", { x: labelW - 8, y: y + 19, "text-anchor": "end", class: "label" }, fromName(from)),
        tos.map((to, j) => {
          const n = count(from, to);
          const x = labelW + j * cellW;
          return s("g", {},
            s("title", {}, `${fromName(from)} → ${tierName(to)}: ${fmtNum(n)}`),
            s("rect", { x: x + 1, y: y + 1, width: cellW - 2, height: cellH - 2, rx: 2, fill: n ? tierColour(to) : "#f3f4f6", "fill-opacity": n ? 0.15 + 0.85 * (n / max) : 1 }),
            s("text", { x: x + cellW / 2, y: y + 19, "text-anchor": "middle", class: n / max > 0.55 ? "cell strong" : "cell" }, n ? fmtNum(n) : "·"));
        }));
    }));
}

// The smallest 1, 2 or 5 times a power of ten at or above n (at least 1).
function niceCeil(n) {
  const power = 10 ** Math.floor(Math.log10(Math.max(n, 1)));
  return [1, 2, 5, 10].map((m) => m * power).find((v) => v >= n) || 1;
}

// Customers entering each tier per day, one slot for every day from first to last.
function historyChart(days, first, last) {
  const byDate = new Map(days.map((d) => [d.date, d.changes || {}]));
  const dates = [first, last, ...byDate.keys()].sort();
  const series = [];
  for (let d = new Date(`${dates[0]}T00:00:00Z`); isoDay(d) <= dates[dates.length - 1]; d = new Date(d.getTime() + 864e5)) {
    series.push({ date: isoDay(d), changes: byDate.get(isoDay(d)) || {} });
  }
  const keys = tierKeys(days.flatMap((d) => Object.keys(d.changes || {})));
  const totals = series.map((d) => keys.reduce((sum, k) => sum + (d.changes[k] || 0), 0));
  if (!totals.some(Boolean)) return emptyChart("chart-history", t("dashboard.history"));
  const max = niceCeil(Math.max(...totals));
  const ticks = max % 2 === 0 ? [0, 0.5, 1] : [0, 1];
  const [left, right, top, bottom, height] = [48, 8, 28, 24, 236];
  const plotW = CHART_WIDTH - left - right;
  const plotH = height - top - bottom;
  const step = plotW / series.length;
  const labelEvery = Math.ceil(series.length / 7);
  // Every labelEvery-th day and the last, unless that crowds the one before.
  const labelled = (i) => i === series.length - 1 || (i % labelEvery === 0 && series.length - 1 - i >= labelEvery / 2);
  return chart("chart-history", height, t("dashboard.history"),
    s("text", { x: 4, y: 12, class: "axis" }, t("dashboard.historyAxis")),
    ticks.map((f) => {
      const y = top + plotH * (1 - f);
      return s("g", {},
        s("line", { x1: left, x2: CHART_WIDTH - right, y1: y, y2: y, class: "gridline" }),
        s("text", { x: left - 6, y: y + 4, "text-anchor": "end", class: "axis" }, fmtNum(max * f)));
    }),
    series.map((d, i) => {
      let y = top + plotH;
      const x = left + i * step;
      const present = keys.filter((k) => d.changes[k]);
      const parts = present.map((k) => {
        const hgt = (d.changes[k] / max) * plotH;
        y -= hgt;
        return s("rect", { x: x + step * 0.1, y, width: Math.max(step * 0.8, 1), height: hgt, fill: tierColour(k) });
      });
      return s("g", {},
        s("title", {}, `${d.date}: ${present.map((k) => `${tierName(k)} ${fmtNum(d.changes[k])}`).join(", ") || 0}`),
        s("rect", { x, y: top, width: step, height: plotH, fill: "transparent" }),
        parts,
        labelled(i) ? s("text", i === series.length - 1
          ? { x: x + step, y: height - 6, "text-anchor": "end", class: "axis" }
          : { x: x + step / 2, y: height - 6, "text-anchor": "middle", class: "axis" }, d.date.slice(5)) : null);
    }));
}

function bySourceChart(bySource) {
  const sources = Object.keys(bySource).sort();
  const keys = tierKeys(sources.flatMap((c) => Object.keys(bySource[c])));
  const [labelW, rowH, top] = [130, 30, 20];
  const barW = CHART_WIDTH - labelW - 70;
  return chart("chart-by-source", top + Math.max(sources.length, 1) * rowH + 6, t("dashboard.bySource"),
    s("text", { x: labelW + barW + 8, y: 12, class: "axis" }, t("dashboard.customers")),
    sources.map((connector, i) => {
      const counts = bySource[connector];
      const total = keys.reduce((sum, k) => sum + (counts[k] || 0), 0) || 1;
      const y = top + i * rowH;
      let x = labelW;
      return s("g", {},
        s("text", { x: labelW - 8, y: y + 18, "text-anchor": "end", class: "label" }, connector),
        keys.filter((k) => counts[k]).map((k) => {
          const w = (counts[k] / total) * barW;
          const seg = s("g", {},
            s("title", {}, `${connector} · ${tierName(k)}: ${fmtNum(counts[k])} (${pct(counts[k] / total)})`),
            s("rect", { x, y: y + 4, width: w, height: rowH - 10, fill: tierColour(k) }),
            w > 36 ? s("text", { x: x + w / 2, y: y + 18, "text-anchor": "middle", class: "inbar" }, fmtNum(counts[k])) : null);
          x += w;
          return seg;
        }),
        s("text", { x: labelW + barW + 8, y: y + 18, class: "value" }, fmtNum(total)));
    }));
}

async function pageDashboard({ params }) {
  const days = PERIODS.includes(Number(params.get("days"))) ? Number(params.get("days")) : 90;
  const since = isoDay(new Date(Date.now() - days * 864e5));
  const [tiers, migration, history] = await Promise.all([
    api("/tiers"), api(`/tiers/migration?since=${since}`), api(`/tiers/history?days=${days}`)]);
  state.tiers = tiers;
  const period = h("select", { id: "period", onchange: (e) => go(`#/dashboard?days=${e.target.value}`) },
    PERIODS.map((d) => h("option", { value: d, selected: d === days }, t("dashboard.days", d))));
  const keys = tierKeys();
  return h("div", { id: "dashboard" },
    h("div", { class: "page-head" },
      h("h1", {}, t("dashboard.title")),
      h("span", { id: "rules-version", class: "muted" }, t("dashboard.rules", tiers.rules_version, fmtNum(tiers.total))),
      h("span", { class: "spacer" }),
      h("label", { for: "period" }, t("dashboard.period")), period),
    h("div", { class: "two-col" },
      section(t("dashboard.distribution"), distributionChart(tiers)),
      section(t("dashboard.bySource"), h("p", { class: "muted small chart-hint" }, t("dashboard.bySourceHint")),
        bySourceChart(tiers.by_source || {}), legend(keys))),
    h("div", { class: "two-col" },
      section(t("dashboard.migration", migration.since, migration.until), migrationChart(migration.moves || [])),
      section(t("dashboard.history"), historyChart(history.days || [], since, isoDay(new Date())),
        (history.days || []).length ? legend(keys) : null)),
    section(t("dashboard.tiers"), h("div", { class: "tier-cards" }, tiers.tiers.map((tier) =>
      h("article", { class: "tier-card", style: { "--tier": tierColour(tier.key) }, "data-tier": tier.key },
        h("h3", {}, tierName(tier.key), " ", h("span", { class: "muted small" }, tier.key)),
        h("p", { class: "tier-count" }, fmtNum(tier.count), h("span", { class: "muted small" }, ` · ${pct(tier.count / Math.max(tiers.total, 1))}`)),
        h("h4", {}, t("dashboard.goal")), h("p", {}, tier.goal),
        h("h4", {}, t("dashboard.actions")), h("ul", {}, (tier.actions || []).map((a) => h("li", {}, a))))))));
}

// ---------- connectors ----------

async function post(button, path, body, message) {
  button.disabled = true;
  try {
    await api(path, { method: "POST", body });
    flash(message, "info", location.hash);
    route();
  } catch (err) {
    button.disabled = false;
    if (!(err instanceof ApiError)) throw err;
  }
}

// The headline numbers of a run's summary (a pipeline report, or {error}).
function runSummary(summary) {
  if (summary == null) return "—";
  if (summary.error) return h("span", { class: "error-text" }, summary.error);
  const parts = [];
  const sync = Object.values(summary.sync || {}).flatMap((streams) => Object.values(streams));
  if (sync.length) parts.push(t("runs.fetched", fmtNum(sync.reduce((sum, c) => sum + (c.fetched || 0), 0))));
  if (summary.parties != null && summary.golden_customers != null) parts.push(t("runs.resolved", fmtNum(summary.parties), fmtNum(summary.golden_customers)));
  if (summary.tiers_changed != null) parts.push(t("runs.tiers", fmtNum(summary.tiers_changed)));
  const push = summary.push || [];
  if (push.length) parts.push(t("runs.pushed", fmtNum(push.reduce((sum, p) => sum + (p.sent || 0), 0)), fmtNum(push.reduce((sum, p) => sum + (p.failed || 0), 0))));
  const failed = Object.keys(summary.failed_connectors || {});
  return [
    parts.join(" · "),
    failed.length ? h("div", { class: "error-text" }, t("runs.failedConnectors", failed.join(", "))) : null,
    details(t("runs.details"), summary),
  ];
}

function jobState(job) {
  const phase = job.running ? "running" : job.waiting ? "waiting" : "idle";
  return h("span", { class: `badge status-${phase}` }, t(`jobs.${phase}`));
}

async function pageConnectors() {
  const [connectors, jobs, runs] = await Promise.all([api("/connectors"), api("/jobs"), api("/runs?limit=20")]);
  const admin = isAdmin();
  const runButton = (kind) => h("button", { type: "button", class: "btn", "data-run": kind,
    onclick: (e) => post(e.currentTarget, "/runs", { kind }, t("runs.startedMsg", jobLabel(kind))) }, t(`runs.${kind}`));
  const schedule = (value) => (value ? show(value) : h("span", { class: "muted" }, t("connectors.unscheduled")));
  return h("div", { id: "connectors" },
    h("div", { class: "page-head" },
      h("h1", {}, t("connectors.title")), h("span", { class: "spacer" }),
      h("button", { type: "button", class: "btn ghost", onclick: () => route() }, t("refresh"))),
    section(t("connectors.title"), dataTable([
      { label: t("col.id"), cell: (c) => h("strong", {}, c.id) },
      { label: t("connectors.type"), cell: (c) => c.type },
      { label: t("connectors.description"), cell: (c) => show(c.description) },
      { label: t("connectors.streams"), cell: (c) => show(c.streams) },
      { label: t("connectors.schedule"), cell: (c) => schedule(c.schedule) },
      { label: t("connectors.sink"), cell: (c) => show(c.sink) },
      { label: t("connectors.staged"), num: true, cell: (c) => fmtNum(c.counts.staged) },
      { label: t("connectors.parties"), num: true, cell: (c) => fmtNum(c.counts.parties) },
      { label: t("connectors.orders"), num: true, cell: (c) => fmtNum(c.counts.orders) },
      { label: t("connectors.rejected"), num: true, cell: (c) => h("span", { class: c.counts.rejected ? "warn" : null }, fmtNum(c.counts.rejected)) },
      ...(admin ? [{ label: "", cell: (c) => h("button", { type: "button", class: "btn small", "data-sync": c.id,
        onclick: (e) => post(e.currentTarget, `/connectors/${encodeURIComponent(c.id)}/sync`, undefined, t("connectors.syncStarted", c.id)) }, t("connectors.sync")) }] : []),
    ], connectors, { rowProps: (c) => ({ class: "connector-row", "data-id": c.id }) })),
    section(t("jobs.title"),
      admin ? h("div", { class: "actions" }, ["full", "incremental", "push"].map(runButton)) : null,
      dataTable([
        { label: t("jobs.name"), cell: (j) => h("span", { title: j.name }, jobLabel(j.name)) },
        { label: t("connectors.schedule"), cell: (j) => schedule(j.schedule) },
        { label: t("jobs.next"), nowrap: true, cell: (j) => fmtDate(j.next_run) },
        { label: t("jobs.state"), cell: jobState },
      ], jobs)),
    section(t("runs.title"), dataTable([
      { label: t("col.id"), cell: (r) => `#${r.id}` },
      { label: t("runs.kind"), cell: (r) => h("span", { title: r.kind }, jobLabel(r.kind)) },
      { label: t("col.status"), cell: (r) => statusBadge(r.status) },
      { label: t("runs.started"), nowrap: true, cell: (r) => fmtDate(r.started_at) },
      { label: t("runs.finished"), nowrap: true, cell: (r) => fmtDate(r.finished_at) },
      { label: t("runs.summary"), cell: (r) => runSummary(r.summary) },
    ], runs)));
}

// ---------- push ----------

async function pagePush() {
  const [ledger, letters] = await Promise.all([api("/push"), api("/push/dead-letters?limit=50")]);
  const open = letters.filter((l) => !l.resolved_at && !l.dropped_at);
  const rows = (status) => (p) => fmtNum((p.rows || {})[status]);
  return h("div", { id: "push" },
    h("div", { class: "page-head" }, h("h1", {}, t("push.title")), h("span", { class: "muted" }, t("push.hint"))),
    section(t("push.ledger"), dataTable([
      { label: t("push.system"), cell: (p) => h("strong", {}, p.connector) },
      ...["pending", "delivered", "failed", "dropped"].map((status) => ({ label: t(`push.${status}`), num: true, cell: rows(status) })),
      { label: t("push.openLetters"), num: true, cell: (p) => h("span", { class: p.open_dead_letters ? "warn" : null }, fmtNum(p.open_dead_letters)) },
    ], ledger, { rowProps: (p) => ({ class: "push-row", "data-connector": p.connector }) })),
    section(t("push.letters", open.length), dataTable([
      { label: t("col.id"), cell: (d) => `#${d.id}` },
      { label: t("col.record"), cell: (d) => keyText(d.letter) },
      { label: t("push.label"), cell: (d) => show(d.letter.label) },
      { label: t("col.reason"), cell: (d) => h("span", { class: "reason" }, d.letter.reason) },
      { label: t("push.attempts"), num: true, cell: (d) => fmtNum(d.letter.attempts) },
      { label: t("col.created"), nowrap: true, cell: (d) => fmtDate(d.created_at) },
      { label: t("push.updated"), nowrap: true, cell: (d) => fmtDate(d.updated_at) },
      { label: t("push.request"), cell: (d) => details(t("push.request"), { request: d.letter.request, response: d.letter.response }) },
    ], open, { empty: t("push.noLetters"), rowProps: (d) => ({ class: "dead-letter", "data-id": d.id }) })));
}

// ---------- start ----------

async function start() {
  $("#lang").addEventListener("click", () => {
    state.lang = state.lang === "zh" ? "en" : "zh";
    localStorage.setItem("tierlink.lang", state.lang);
    route();
  });
  $("#logout").addEventListener("click", signOut);
  document.addEventListener("keydown", onKeyDown);
  window.addEventListener("hashchange", route);
  if (state.token) {
    try {
      state.me = await api("/me");
    } catch {
      // api() has shown why; without a user the router shows the login page.
    }
  }
  route();
}

start();
