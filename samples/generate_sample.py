"""Writes the bundled sample: three source systems holding overlapping,
differently spelled copies of about 300 customers, with orders.

Deterministic (fixed seed); run `python3 samples/generate_sample.py` from the
repository root to rewrite samples/data/. The data is synthetic.
"""
import csv
import json
import random
from datetime import datetime, timedelta
from pathlib import Path

random.seed(20261101)
OUT = Path(__file__).parent / "data"
AS_OF = datetime(2026, 11, 1)

SURNAMES = [("张", "Zhang"), ("王", "Wang"), ("李", "Li"), ("刘", "Liu"), ("陈", "Chen"), ("杨", "Yang"),
            ("黄", "Huang"), ("赵", "Zhao"), ("吴", "Wu"), ("周", "Zhou"), ("徐", "Xu"), ("孙", "Sun"),
            ("欧阳", "Ouyang"), ("司马", "Sima"), ("马", "Ma"), ("朱", "Zhu"), ("胡", "Hu"), ("郭", "Guo")]
GIVEN = [("伟", "Wei"), ("芳", "Fang"), ("娜", "Na"), ("敏", "Min"), ("静", "Jing"), ("丽", "Li"), ("强", "Qiang"),
         ("磊", "Lei"), ("军", "Jun"), ("洋", "Yang"), ("勇", "Yong"), ("艳", "Yan"), ("杰", "Jie"), ("娟", "Juan"),
         ("涛", "Tao"), ("明", "Ming"), ("超", "Chao"), ("秀英", "Xiuying"), ("建华", "Jianhua"), ("志强", "Zhiqiang")]
COMPANIES = ["北京星河科技有限公司", "上海云图信息技术有限公司", "深圳蓝海电子股份有限公司", "杭州青禾贸易有限公司",
             "广州瑞丰食品有限公司", "成都天府软件有限公司", None, None, None, None]
CITIES = ["北京", "上海", "深圳", "杭州", "广州", "成都", "南京", "武汉"]
ARCHETYPES = ["champion"] * 3 + ["loyal"] * 5 + ["growing"] * 5 + ["new"] * 5 + ["big_once"] * 2 + ["dormant"] * 4 + ["churned"] * 3


def phone_variant(mobile):
    return random.choice([
        mobile, f"+86 {mobile[:3]} {mobile[3:7]} {mobile[7:]}", f"{mobile[:3]}-{mobile[3:7]}-{mobile[7:]}",
        f"0086{mobile}", f"86-{mobile}", f"({mobile[:3]}) {mobile[3:]}",
    ])


def email_variant(email):
    return random.choice([email, email.upper(), f" {email}", email.capitalize()])


def order_days(archetype):
    """Days before AS_OF of each order of a customer of this archetype."""
    if archetype == "champion":
        return sorted(random.sample(range(1, 200), random.randint(8, 14)))
    if archetype == "loyal":
        return sorted(random.sample(range(5, 330), random.randint(4, 7)))
    if archetype == "growing":
        return sorted(random.sample(range(3, 150), random.randint(2, 3)))
    if archetype == "new":
        return [random.randint(1, 40)]
    if archetype == "big_once":
        return [random.randint(120, 300)]
    if archetype == "dormant":
        return sorted(random.sample(range(200, 500), random.randint(1, 3)))
    return sorted(random.sample(range(400, 900), random.randint(2, 4)))  # churned


def amount(archetype):
    base = {"champion": 4000, "loyal": 900, "growing": 600, "new": 300, "big_once": 40000,
            "dormant": 500, "churned": 800}[archetype]
    return round(base * random.uniform(0.5, 1.6), 2)


customers = []
used_mobiles = set()
for number in range(300):
    surname, surname_py = random.choice(SURNAMES)
    given, given_py = random.choice(GIVEN)
    while True:
        mobile = random.choice(["138", "139", "186", "135", "150", "177", "199"]) + f"{random.randint(0, 99999999):08d}"
        if mobile not in used_mobiles:
            used_mobiles.add(mobile)
            break
    customers.append({
        "n": number, "hanzi": surname + given, "pinyin": f"{given_py} {surname_py}",
        "pinyin_sf": f"{surname_py} {given_py}", "mobile": mobile,
        "email": f"{surname_py.lower()}.{given_py.lower()}{number}@example.cn" if random.random() < 0.8 else None,
        "company": random.choice(COMPANIES), "city": random.choice(CITIES),
        "archetype": random.choice(ARCHETYPES),
    })

erp, shop, desk = [], [], []
for c in customers:
    systems = random.choice([("erp",), ("shop",), ("erp", "shop"), ("erp", "shop"), ("erp", "desk"),
                             ("shop", "desk"), ("erp", "shop", "desk"), ("erp", "shop", "desk")])
    c["systems"] = systems
    if "erp" in systems:
        erp.append(c)
    if "shop" in systems:
        shop.append(c)
    if "desk" in systems:
        desk.append(c)

OUT.mkdir(parents=True, exist_ok=True)

# ERP: a GBK-encoded CSV export, as Chinese ERPs often write them.
with open(OUT / "erp_customers.csv", "w", encoding="gbk", newline="") as f:
    w = csv.writer(f)
    w.writerow(["客户编号", "客户名称", "公司", "手机", "邮箱", "城市", "修改时间"])
    for c in erp:
        w.writerow([f"C{c['n']:05d}", c["hanzi"], c["company"] or "", phone_variant(c["mobile"]),
                    email_variant(c["email"]) if c["email"] and random.random() < 0.7 else "",
                    c["city"], (AS_OF - timedelta(days=random.randint(1, 400))).strftime("%Y-%m-%d %H:%M:%S")])
    w.writerow(["", "无编号客户", "", "13000000000", "", "北京", "2026-01-01 00:00:00"])

STATUS_ZH = {"paid": "已付款", "refunded": "已退款", "cancelled": "已取消"}
order_number = 0
with open(OUT / "erp_orders.csv", "w", encoding="gbk", newline="") as f:
    w = csv.writer(f)
    w.writerow(["订单号", "客户编号", "金额", "状态", "下单时间"])
    for c in erp:
        for days in order_days(c["archetype"]):
            if random.random() < 0.5:
                continue  # the other half of this customer's orders are in the shop
            order_number += 1
            status = random.choices(["paid", "refunded", "cancelled"], [0.9, 0.05, 0.05])[0]
            when = AS_OF - timedelta(days=days, hours=random.randint(0, 20))
            w.writerow([f"SO{order_number:06d}", f"C{c['n']:05d}", f"￥{amount(c['archetype']):,.2f}",
                        STATUS_ZH[status], when.strftime("%Y-%m-%d %H:%M:%S")])
    w.writerow(["SO999999", "C00001", "N/A", "已付款", "2026-10-01 09:00:00"])

# Shop: JSON Lines in the shape of an e-commerce API.
with open(OUT / "shop_customers.jsonl", "w", encoding="utf-8") as f:
    for c in shop:
        first, last = c["pinyin"].split(" ")
        f.write(json.dumps({
            "id": 7000000 + c["n"], "first_name": first, "last_name": last,
            "email": email_variant(c["email"]) if c["email"] else None,
            "phone": "+86" + c["mobile"] if random.random() < 0.85 else None,
            "tags": "", "updated_at": (AS_OF - timedelta(days=random.randint(1, 300))).strftime("%Y-%m-%dT%H:%M:%S+08:00"),
            "default_address": {"company": c["company"], "city": c["city"]},
        }, ensure_ascii=False) + "\n")
    f.write('{"id": 7999999, "first_name": "Broken", "email": \n')

with open(OUT / "shop_orders.jsonl", "w", encoding="utf-8") as f:
    for c in shop:
        for days in order_days(c["archetype"]):
            if random.random() < 0.5:
                continue
            order_number += 1
            status = random.choices(["paid", "refunded", "pending"], [0.9, 0.05, 0.05])[0]
            when = AS_OF - timedelta(days=days, hours=random.randint(0, 20))
            f.write(json.dumps({
                "id": 450000000 + order_number, "name": f"#{order_number}", "customer": {"id": 7000000 + c["n"]},
                "total_price": f"{amount(c['archetype']):.2f}", "currency": "CNY", "financial_status": status,
                "created_at": when.strftime("%Y-%m-%dT%H:%M:%S+08:00"),
            }) + "\n")

# Help desk: contacts typed in by agents, names often in pinyin.
with open(OUT / "helpdesk_contacts.csv", "w", encoding="utf-8", newline="") as f:
    w = csv.writer(f)
    w.writerow(["id", "name", "phone", "email", "organization"])
    for c in desk:
        name = random.choice([c["hanzi"], c["pinyin"], c["pinyin_sf"]])
        phone = phone_variant(c["mobile"]) if random.random() < 0.75 else ""
        email = email_variant(c["email"]) if c["email"] and (not phone or random.random() < 0.6) else ""
        w.writerow([f"u{1000 + c['n']}", name, phone, email, c["company"] or ""])

truth = OUT / "ground_truth.csv"
with open(truth, "w", encoding="utf-8", newline="") as f:
    w = csv.writer(f)
    w.writerow(["customer", "archetype", "erp_id", "shop_id", "helpdesk_id"])
    for c in customers:
        w.writerow([c["n"], c["archetype"], f"C{c['n']:05d}" if "erp" in c["systems"] else "",
                    7000000 + c["n"] if "shop" in c["systems"] else "",
                    f"u{1000 + c['n']}" if "desk" in c["systems"] else ""])
print(f"erp {len(erp)}, shop {len(shop)}, helpdesk {len(desk)} customers; {order_number} orders")
