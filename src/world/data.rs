//! Reference tables the generator draws from: surname and given-name
//! frequencies (with pinyin), simplified-to-traditional characters, common
//! input-method typos, nicknames, English names, company brands, industries
//! and cities. Weights are rough shares per ten thousand, after published
//! surname and given-name frequency lists, so common names collide between
//! different customers as they do in reality.

/// Surname, its pinyin, weight. Compound surnames are rare but present.
pub const SURNAMES: &[(&str, &str, u32)] = &[
    ("王", "Wang", 720), ("李", "Li", 700), ("张", "Zhang", 670), ("刘", "Liu", 540),
    ("陈", "Chen", 450), ("杨", "Yang", 310), ("黄", "Huang", 220), ("赵", "Zhao", 200),
    ("吴", "Wu", 180), ("周", "Zhou", 170), ("徐", "Xu", 130), ("孙", "Sun", 130),
    ("马", "Ma", 120), ("朱", "Zhu", 110), ("胡", "Hu", 100), ("郭", "Guo", 100),
    ("何", "He", 90), ("高", "Gao", 90), ("林", "Lin", 90), ("罗", "Luo", 80),
    ("郑", "Zheng", 80), ("梁", "Liang", 70), ("谢", "Xie", 60), ("宋", "Song", 50),
    ("唐", "Tang", 50), ("许", "Xu", 50), ("韩", "Han", 50), ("冯", "Feng", 40),
    ("邓", "Deng", 40), ("曹", "Cao", 40), ("彭", "Peng", 40), ("曾", "Zeng", 40),
    ("肖", "Xiao", 40), ("田", "Tian", 30), ("董", "Dong", 30), ("袁", "Yuan", 30),
    ("潘", "Pan", 30), ("于", "Yu", 30), ("蒋", "Jiang", 30), ("蔡", "Cai", 30),
    ("余", "Yu", 30), ("杜", "Du", 30), ("叶", "Ye", 30), ("程", "Cheng", 30),
    ("苏", "Su", 20), ("魏", "Wei", 20), ("吕", "Lv", 20), ("丁", "Ding", 20),
    ("任", "Ren", 20), ("沈", "Shen", 20), ("姚", "Yao", 20), ("卢", "Lu", 20),
    ("姜", "Jiang", 20), ("崔", "Cui", 20), ("钟", "Zhong", 20), ("谭", "Tan", 20),
    ("陆", "Lu", 20), ("汪", "Wang", 20), ("范", "Fan", 20), ("金", "Jin", 20),
    ("石", "Shi", 20), ("廖", "Liao", 20), ("贾", "Jia", 20), ("夏", "Xia", 20),
    ("韦", "Wei", 20), ("付", "Fu", 20), ("方", "Fang", 20), ("白", "Bai", 20),
    ("邹", "Zou", 20), ("孟", "Meng", 20), ("熊", "Xiong", 20), ("秦", "Qin", 20),
    ("邱", "Qiu", 20), ("江", "Jiang", 20), ("尹", "Yin", 20), ("薛", "Xue", 20),
    ("段", "Duan", 20), ("雷", "Lei", 20), ("侯", "Hou", 20), ("龙", "Long", 20),
    ("欧阳", "Ouyang", 5), ("司马", "Sima", 2), ("诸葛", "Zhuge", 2), ("上官", "Shangguan", 2),
];

/// A whole given name, its pinyin, whether it is mostly a man's (true) or a
/// woman's name, weight. One-character names dominate the collisions.
pub const GIVEN_NAMES: &[(&str, &str, bool, u32)] = &[
    ("伟", "Wei", true, 300), ("芳", "Fang", false, 250), ("娜", "Na", false, 220),
    ("秀英", "Xiuying", false, 200), ("敏", "Min", false, 200), ("静", "Jing", false, 200),
    ("丽", "Li", false, 180), ("强", "Qiang", true, 180), ("磊", "Lei", true, 180),
    ("军", "Jun", true, 170), ("洋", "Yang", true, 160), ("勇", "Yong", true, 160),
    ("艳", "Yan", false, 150), ("杰", "Jie", true, 150), ("娟", "Juan", false, 140),
    ("涛", "Tao", true, 140), ("明", "Ming", true, 130), ("超", "Chao", true, 130),
    ("秀兰", "Xiulan", false, 120), ("霞", "Xia", false, 120), ("平", "Ping", false, 120),
    ("刚", "Gang", true, 120), ("桂英", "Guiying", false, 110), ("建华", "Jianhua", true, 80),
    ("建国", "Jianguo", true, 80), ("志强", "Zhiqiang", true, 80), ("海燕", "Haiyan", false, 80),
    ("晓东", "Xiaodong", true, 60), ("丽娟", "Lijuan", false, 60), ("文静", "Wenjing", false, 60),
    ("浩然", "Haoran", true, 50), ("子涵", "Zihan", false, 50), ("雨轩", "Yuxuan", true, 40),
    ("欣怡", "Xinyi", false, 50), ("梓萱", "Zixuan", false, 40), ("宇航", "Yuhang", true, 40),
    ("思远", "Siyuan", true, 30), ("佳琪", "Jiaqi", false, 40), ("俊杰", "Junjie", true, 50),
    ("鹏飞", "Pengfei", true, 40), ("晨", "Chen", true, 50), ("婷", "Ting", false, 80),
    ("雪", "Xue", false, 70), ("鑫", "Xin", true, 60), ("斌", "Bin", true, 60),
    ("辉", "Hui", true, 70), ("玲", "Ling", false, 70), ("红梅", "Hongmei", false, 50),
    ("国强", "Guoqiang", true, 50), ("凤", "Feng", false, 40), ("飞", "Fei", true, 60),
    ("宁", "Ning", false, 40), ("东", "Dong", true, 40), ("嘉怡", "Jiayi", false, 30),
    ("子轩", "Zixuan", true, 40), ("一鸣", "Yiming", true, 30), ("美玲", "Meiling", false, 30),
    ("志明", "Zhiming", true, 30), ("小龙", "Xiaolong", true, 20), ("春花", "Chunhua", false, 20),
];

/// Characters that make up the rarer two-character given names, with pinyin.
pub const GIVEN_CHARS: &[(&str, &str)] = &[
    ("子", "zi"), ("梓", "zi"), ("宇", "yu"), ("浩", "hao"), ("泽", "ze"), ("思", "si"),
    ("文", "wen"), ("博", "bo"), ("嘉", "jia"), ("欣", "xin"), ("雨", "yu"), ("晨", "chen"),
    ("佳", "jia"), ("一", "yi"), ("俊", "jun"), ("明", "ming"), ("家", "jia"), ("瑞", "rui"),
    ("睿", "rui"), ("涵", "han"), ("萱", "xuan"), ("轩", "xuan"), ("怡", "yi"), ("琪", "qi"),
    ("然", "ran"), ("悦", "yue"), ("诗", "shi"), ("雅", "ya"), ("天", "tian"), ("志", "zhi"),
    ("海", "hai"), ("建", "jian"), ("国", "guo"), ("华", "hua"), ("丽", "li"), ("玉", "yu"),
    ("兰", "lan"), ("春", "chun"), ("秋", "qiu"), ("红", "hong"), ("伟", "wei"), ("强", "qiang"),
    ("鹏", "peng"), ("飞", "fei"), ("龙", "long"), ("凯", "kai"), ("晓", "xiao"), ("婷", "ting"),
    ("静", "jing"), ("慧", "hui"), ("敏", "min"), ("颖", "ying"), ("宁", "ning"), ("安", "an"),
    ("乐", "le"), ("磊", "lei"), ("杰", "jie"), ("涛", "tao"), ("斌", "bin"), ("新", "xin"),
];

/// Simplified characters and their traditional forms (only those that differ).
pub const TRADITIONAL: &[(char, char)] = &[
    ('张', '張'), ('陈', '陳'), ('刘', '劉'), ('杨', '楊'), ('黄', '黃'), ('赵', '趙'),
    ('吴', '吳'), ('孙', '孫'), ('马', '馬'), ('罗', '羅'), ('郑', '鄭'), ('谢', '謝'),
    ('韩', '韓'), ('冯', '馮'), ('邓', '鄧'), ('许', '許'), ('叶', '葉'), ('苏', '蘇'),
    ('钟', '鍾'), ('谭', '譚'), ('陆', '陸'), ('贾', '賈'), ('邹', '鄒'), ('龙', '龍'),
    ('欧', '歐'), ('阳', '陽'), ('诸', '諸'), ('伟', '偉'), ('丽', '麗'), ('华', '華'),
    ('军', '軍'), ('红', '紅'), ('兰', '蘭'), ('凤', '鳳'), ('刚', '剛'), ('杰', '傑'),
    ('涛', '濤'), ('静', '靜'), ('艳', '艷'), ('飞', '飛'), ('鹏', '鵬'), ('国', '國'),
    ('东', '東'), ('宁', '寧'), ('强', '強'), ('晓', '曉'), ('轩', '軒'), ('鸣', '鳴'),
    ('辉', '輝'), ('泽', '澤'), ('诗', '詩'), ('凯', '凱'), ('颖', '穎'), ('乐', '樂'),
    ('贸', '貿'), ('电', '電'), ('术', '術'), ('设', '設'), ('备', '備'), ('医', '醫'),
    ('疗', '療'), ('实', '實'), ('业', '業'), ('网', '網'), ('络', '絡'),
    ('传', '傳'), ('环', '環'),
    ('团', '團'), ('责', '責'), ('广', '廣'), ('门', '門'), ('庆', '慶'),
];

/// Characters typed in their place by a pinyin input method (same sound).
pub const HOMOPHONES: &[(char, char)] = &[
    ('伟', '玮'), ('芳', '方'), ('娜', '纳'), ('敏', '民'), ('静', '晶'), ('丽', '莉'),
    ('强', '墙'), ('磊', '蕾'), ('军', '君'), ('洋', '阳'), ('勇', '永'), ('艳', '燕'),
    ('杰', '洁'), ('娟', '鹃'), ('涛', '韬'), ('明', '铭'), ('超', '潮'), ('霞', '侠'),
    ('平', '萍'), ('刚', '钢'), ('英', '瑛'), ('华', '桦'), ('国', '果'), ('燕', '艳'),
    ('东', '冬'), ('涵', '含'), ('轩', '宣'), ('怡', '宜'), ('琪', '琦'), ('飞', '菲'),
    ('晨', '辰'), ('婷', '亭'), ('雪', '学'), ('鑫', '欣'), ('斌', '彬'), ('辉', '晖'),
    ('玲', '琳'), ('梅', '玫'), ('凤', '峰'), ('宁', '凝'), ('张', '章'), ('王', '汪'),
    ('李', '黎'), ('刘', '柳'), ('陈', '程'), ('杨', '阳'), ('黄', '王'), ('徐', '许'),
    ('信', '新'), ('达', '大'), ('盛', '胜'), ('远', '源'), ('科', '可'), ('技', '基'),
    ('通', '同'), ('图', '途'), ('联', '连'), ('泰', '太'), ('程', '成'), ('德', '得'),
];

/// WeChat nicknames that have nothing to do with the real name.
pub const NICKNAMES: &[&str] = &[
    "阳光", "随风", "静待花开", "岁月静好", "一路向北", "Sunny", "Lucky", "Amy", "David",
    "Vivian", "Jack", "🍀幸运草", "小雨", "快乐每一天", "追梦人", "平安是福", "Kevin_Z",
    "海阔天空", "不忘初心", "Coco", "木子", "风清扬", "Grace", "A.大熊", "简单生活", "🌸花开富贵",
    "Tony", "晴天", "知足常乐", "Leo", "向日葵", "一叶知秋", "Ryan", "糖糖", "小鱼儿",
];

/// English given names and family names, for the customers who use one.
pub const ENGLISH_FIRST: &[&str] = &[
    "Michael", "David", "James", "John", "Robert", "Daniel", "Kevin", "Jason", "Eric", "Peter",
    "Sarah", "Emily", "Jessica", "Anna", "Linda", "Grace", "Lucy", "Sophie", "Thomas", "Mark",
];
pub const ENGLISH_LAST: &[&str] = &[
    "Smith", "Johnson", "Brown", "Miller", "Wilson", "Taylor", "Anderson", "Thomas", "Martin",
    "Walker", "Wright", "Green", "Hall", "Young", "Müller", "Schmidt", "Dubois", "Rossi",
    "Tanaka", "O'Brien",
];

/// Company brand (字号) and its pinyin.
pub const BRANDS: &[(&str, &str)] = &[
    ("华信", "Huaxin"), ("恒达", "Hengda"), ("鼎盛", "Dingsheng"), ("博远", "Boyuan"),
    ("星辰", "Xingchen"), ("腾飞", "Tengfei"), ("创新", "Chuangxin"), ("汇通", "Huitong"),
    ("金桥", "Jinqiao"), ("天成", "Tiancheng"), ("宏图", "Hongtu"), ("中科", "Zhongke"),
    ("瑞丰", "Ruifeng"), ("新世纪", "Xinshiji"), ("东方", "Dongfang"), ("远洋", "Yuanyang"),
    ("海纳", "Haina"), ("云图", "Yuntu"), ("智联", "Zhilian"), ("联创", "Lianchuang"),
    ("安泰", "Antai"), ("永盛", "Yongsheng"), ("长城", "Changcheng"), ("嘉禾", "Jiahe"),
    ("明德", "Mingde"), ("正泰", "Zhengtai"), ("百川", "Baichuan"), ("九州", "Jiuzhou"),
    ("华宇", "Huayu"), ("立信", "Lixin"), ("锦程", "Jincheng"), ("启明", "Qiming"),
    ("盛世", "Shengshi"), ("飞扬", "Feiyang"), ("科瑞", "Kerui"), ("同创", "Tongchuang"),
    ("信达", "Xinda"), ("万通", "Wantong"), ("德润", "Derun"), ("昊天", "Haotian"),
];

/// Industry word in the registered name, its English rendering, and a short
/// slug for web domains.
pub const INDUSTRIES: &[(&str, &str, &str)] = &[
    ("科技", "Technology", "tech"), ("信息技术", "Information Technology", "it"),
    ("贸易", "Trading", "trade"), ("电子", "Electronics", "elec"),
    ("物流", "Logistics", "logistics"), ("建材", "Building Materials", "bm"),
    ("食品", "Food", "food"), ("医疗器械", "Medical Devices", "med"),
    ("机械设备", "Machinery", "mach"), ("网络科技", "Network Technology", "net"),
    ("文化传媒", "Culture Media", "media"), ("实业", "Industrial", "group"),
    ("环保科技", "Environmental Technology", "eco"), ("新能源", "New Energy", "energy"),
];

/// Legal suffixes with their English forms and weights.
pub const LEGAL_SUFFIXES: &[(&str, &str, u32)] = &[
    ("有限公司", "Co., Ltd.", 70), ("股份有限公司", "Co., Ltd.", 12),
    ("有限责任公司", "Co., Ltd.", 10), ("集团有限公司", "Group Co., Ltd.", 8),
];

/// A city: name, pinyin, province, a district's administrative division code
/// (the 6 digits inside a credit code), landline area code, weight.
pub const CITIES: &[(&str, &str, &str, &str, &str, u32)] = &[
    ("北京", "Beijing", "北京市", "110105", "010", 120), ("上海", "Shanghai", "上海市", "310115", "021", 120),
    ("广州", "Guangzhou", "广东省", "440106", "020", 80), ("深圳", "Shenzhen", "广东省", "440305", "0755", 90),
    ("杭州", "Hangzhou", "浙江省", "330106", "0571", 60), ("南京", "Nanjing", "江苏省", "320106", "025", 50),
    ("苏州", "Suzhou", "江苏省", "320505", "0512", 50), ("成都", "Chengdu", "四川省", "510107", "028", 60),
    ("武汉", "Wuhan", "湖北省", "420106", "027", 50), ("西安", "Xi'an", "陕西省", "610113", "029", 40),
    ("重庆", "Chongqing", "重庆市", "500103", "023", 50), ("天津", "Tianjin", "天津市", "120116", "022", 40),
    ("长沙", "Changsha", "湖南省", "430104", "0731", 30), ("郑州", "Zhengzhou", "河南省", "410105", "0371", 30),
    ("青岛", "Qingdao", "山东省", "370212", "0532", 30), ("厦门", "Xiamen", "福建省", "350203", "0592", 20),
    ("宁波", "Ningbo", "浙江省", "330212", "0574", 25), ("合肥", "Hefei", "安徽省", "340104", "0551", 25),
    ("东莞", "Dongguan", "广东省", "441900", "0769", 30), ("沈阳", "Shenyang", "辽宁省", "210102", "024", 25),
];

/// Road names for street addresses.
pub const ROADS: &[&str] = &[
    "人民路", "解放路", "中山路", "建设路", "和平路", "长江路", "黄河路", "朝阳路", "科技路",
    "南京路", "学府路", "滨江大道", "世纪大道", "高新大道", "文化路",
];

/// Mobile number prefixes of the three carriers.
pub const MOBILE_PREFIXES: &[&str] = &[
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "150", "151", "152",
    "153", "155", "156", "157", "158", "159", "166", "176", "177", "178", "180", "181", "182",
    "183", "184", "185", "186", "187", "188", "189", "191", "198", "199",
];

/// Personal mailbox providers and weights (qq.com mailboxes are numeric).
pub const MAIL_PROVIDERS: &[(&str, u32)] = &[
    ("qq.com", 40), ("163.com", 25), ("126.com", 10), ("sina.com", 5), ("139.com", 5),
    ("foxmail.com", 5), ("gmail.com", 5), ("outlook.com", 5),
];

/// Products sold in the web shop: title, SKU, unit price in yuan.
pub const PRODUCTS: &[(&str, &str, u32)] = &[
    ("商用净水器 Pro", "WP-200", 3_980), ("滤芯套装", "FL-12", 299), ("办公椅 人体工学", "OC-7", 1_280),
    ("智能门锁", "SL-3", 1_699), ("无线扫码枪", "BS-9", 368), ("热敏打印机", "TP-58", 459),
    ("企业路由器", "ER-6", 899), ("投影仪 4K", "PJ-4K", 6_499), ("会议摄像头", "CM-2", 1_099),
    ("收银一体机", "POS-15", 2_899), ("A4 复印纸 (箱)", "PA-4", 145), ("标签纸 (卷)", "LB-1", 36),
];

/// Help-desk ticket subjects.
pub const TICKET_SUBJECTS: &[&str] = &[
    "订单还没有发货", "发票开错了，需要重开", "设备无法开机", "申请退货退款", "物流信息一直没更新",
    "想咨询批量采购价格", "安装师傅什么时候上门", "收到的商品有破损", "账号无法登录",
    "滤芯多久需要更换", "Where is my order?", "Invoice request", "保修期内维修",
];

/// Member userids of the sales team in WeCom.
pub const SALES_REPS: &[&str] = &[
    "zhangsan", "lisi", "wangwu", "zhaoliu", "chenjing", "liuyang", "huangwei", "zhoumin",
    "wuqiang", "sunli", "maxiaoming", "linfang", "guohui", "hejun", "gaoyan", "luotao",
];

/// Pre-existing Odoo partner categories (none of them a tier).
pub const ODOO_CATEGORIES: &[&str] = &["经销商", "终端客户", "华东区", "华南区", "政府采购", "展会线索"];
