"""Slot fillers for the question templates.

Every filler is a ``(chinese, english)`` pair so that the generator can code-switch: a Chinese
template sometimes receives the English word and vice versa ("这个 receipt 上的总金额是多少").
"""

from __future__ import annotations

Pair = tuple[str, str]


def _pairs(text: str) -> list[Pair]:
    """Parse ``zh|en`` lines; keeps the long lists below readable."""
    out = []
    for line in text.strip().splitlines():
        zh, en = line.split("|")
        out.append((zh.strip(), en.strip()))
    return out


SLOTS: dict[str, list[Pair]] = {
    "obj": _pairs("""
        杯子|mug
        椅子|chair
        背包|backpack
        台灯|desk lamp
        键盘|keyboard
        自行车|bike
        雨伞|umbrella
        花瓶|vase
        书架|bookshelf
        沙发|sofa
        钥匙|key
        耳机|headphones
        帽子|hat
        水壶|kettle
        玩具|toy
        相机|camera
        吉他|guitar
        闹钟|alarm clock
        行李箱|suitcase
        眼镜|glasses
        窗帘|curtain
        地毯|rug
        冰箱|fridge
        微波炉|microwave
        电风扇|fan
        电饭煲|rice cooker
        路由器|router
        显示器|monitor
        打印机|printer
        插座|power strip
        遥控器|remote
        洗衣机|washing machine
        梯子|ladder
        螺丝刀|screwdriver
        充电器|charger
        蜡烛|candle
        桌子|table
        床|bed
        柜子|cabinet
        镜子|mirror
    """),
    "animal": _pairs("""
        狗|dog
        猫|cat
        鸟|bird
        鱼|fish
        兔子|rabbit
        乌龟|turtle
        仓鼠|hamster
        蝴蝶|butterfly
        蜘蛛|spider
        蛇|snake
        马|horse
        鹦鹉|parrot
        松鼠|squirrel
        虫子|bug
        蜜蜂|bee
        青蛙|frog
        小狗|puppy
        小猫|kitten
        鸭子|duck
        蜥蜴|lizard
    """),
    "plant": _pairs("""
        花|flower
        树|tree
        多肉|succulent
        绿萝|pothos
        蘑菇|mushroom
        仙人掌|cactus
        草|grass
        叶子|leaf
        野果|wild berry
        盆栽|potted plant
        月季|rose bush
        兰花|orchid
        发财树|money tree plant
        番茄苗|tomato plant
        竹子|bamboo
    """),
    "place": _pairs("""
        房间|room
        客厅|living room
        街道|street
        公园|park
        厨房|kitchen
        办公室|office
        教室|classroom
        超市|supermarket
        海滩|beach
        停车场|parking lot
        餐厅|restaurant
        车站|train station
        商场|mall
        卧室|bedroom
        院子|backyard
        操场|playground
        机场|airport
        工地|construction site
        山顶|mountain top
        村子|village
    """),
    "photo": _pairs("""
        照片|photo
        图片|picture
        图|image
        截图|screenshot
        相片|snapshot
        画|painting
        插图|illustration
        自拍|selfie
    """),
    "food": _pairs("""
        菜|dish
        蛋糕|cake
        水果|fruit
        面条|noodles
        汤|soup
        饺子|dumplings
        披萨|pizza
        寿司|sushi
        牛排|steak
        沙拉|salad
        面包|bread
        牛奶|milk
        鸡蛋|egg
        剩饭|leftovers
        火锅|hotpot
        月饼|mooncake
        酸奶|yogurt
        海鲜|seafood
        罐头|canned food
        香肠|sausage
    """),
    "product": _pairs("""
        包|bag
        手表|watch
        鞋|shoes
        项链|necklace
        衣服|jacket
        手机|phone
        口红|lipstick
        香水|perfume
        戒指|ring
        墨镜|sunglasses
        球鞋|sneakers
        玉镯|jade bracelet
        茶叶|tea
        白酒|liquor
        钱包|wallet
        羽绒服|down jacket
        皮带|belt
        耳环|earrings
        瓷器|porcelain vase
        古董|antique
    """),
    "material": _pairs("""
        真皮|real leather
        纯金|solid gold
        纯银|sterling silver
        真丝|real silk
        纯棉|pure cotton
        实木|solid wood
        天然翡翠|natural jade
        正品|genuine
        原装|original
        手工|handmade
    """),
    "doc": _pairs("""
        海报|poster
        通知|notice
        说明书|manual
        传单|flyer
        课表|timetable
        门票|ticket
        名片|business card
        标牌|sign
        路牌|road sign
        书页|book page
        笔记|notes
        白板|whiteboard
        黑板|blackboard
        幻灯片|slide
        快递单|shipping label
        包装盒|package
        告示|announcement
        菜单|menu
        横幅|banner
        便签|sticky note
        证书|certificate
        表格|form
        邀请函|invitation
        报纸|newspaper
        车票|train ticket
    """),
    "screen": _pairs("""
        截图|screenshot
        手机截图|phone screenshot
        网页截图|webpage screenshot
        聊天记录|chat screenshot
        弹窗|pop-up
        设置页面|settings page
        报错截图|error screenshot
        游戏截图|game screenshot
        邮件截图|email screenshot
        短信截图|text message screenshot
    """),
    "chart": _pairs("""
        折线图|line chart
        柱状图|bar chart
        饼图|pie chart
        表格|table
        统计图|graph
        趋势图|trend chart
        散点图|scatter plot
        流程图|flowchart
        仪表盘|dashboard
        思维导图|mind map
    """),
    "problem": _pairs("""
        数学题|math problem
        物理题|physics problem
        应用题|word problem
        几何题|geometry question
        方程|equation
        选择题|multiple choice question
        化学题|chemistry question
        填空题|fill-in-the-blank question
        作业|homework
        英语阅读题|reading comprehension question
        逻辑题|logic puzzle
        数独|sudoku
    """),
    "code": _pairs("""
        代码|code
        Python代码|Python code
        报错|error
        SQL|SQL query
        函数|function
        日志|log output
        终端输出|terminal output
        JavaScript代码|JavaScript snippet
        配置文件|config file
        堆栈信息|stack trace
    """),
    "vehicle": _pairs("""
        车|car
        汽车|car
        电动车|e-bike
        摩托车|motorcycle
        卡车|truck
        轮胎|tire
        发动机|engine
        仪表盘|dashboard
        刹车片|brake pad
        车漆|paint job
    """),
    "med_doc": _pairs("""
        化验单|lab report
        血常规报告|blood test report
        体检报告|health checkup report
        病历|medical record
        处方单|prescription
        检查报告|test results
        B超单|ultrasound report
        心电图报告|ECG report
        尿检单|urine test result
        出院小结|discharge summary
        诊断书|diagnosis letter
        疫苗接种本|vaccination record
        血糖记录|blood sugar log
        甲状腺功能报告|thyroid panel
        肝功能报告|liver function test
        病理报告|pathology report
    """),
    "med_img": _pairs("""
        X光片|X-ray
        CT片|CT scan
        核磁共振片子|MRI
        B超图|ultrasound image
        胸片|chest X-ray
        牙片|dental X-ray
        眼底照片|retina scan
        心电图|ECG
        骨密度报告图|bone density scan
        片子|scan
    """),
    "med_body": _pairs("""
        皮疹|rash
        红点|red spots
        痘痘|pimple
        伤口|wound
        痣|mole
        淤青|bruise
        肿块|lump
        疹子|hives
        水泡|blister
        指甲|toenail
        舌苔|tongue
        喉咙|throat
        眼睛|eye
        脚趾|toe
        牙龈|gums
        烫伤|burn
        湿疹|eczema
        脱皮|peeling skin
        蚊子包|bug bite
        疤痕|scar
    """),
    "med_item": _pairs("""
        药盒|medicine box
        药瓶|pill bottle
        药片|pill
        胶囊|capsule
        药品说明书|drug leaflet
        保健品|supplement
        眼药水|eye drops
        膏药|ointment
        感冒药|cold medicine
        退烧药|fever reducer
        降压药|blood pressure pills
        抗生素|antibiotics
        止痛药|painkiller
        维生素|vitamins
        胰岛素|insulin pen
    """),
    "indicator": _pairs("""
        白细胞|white blood cell count
        血红蛋白|hemoglobin
        血小板|platelets
        转氨酶|ALT
        血糖|glucose
        胆固醇|cholesterol
        尿酸|uric acid
        肌酐|creatinine
        甘油三酯|triglycerides
        TSH|TSH
        CRP|CRP
        血压|blood pressure
    """),
    "drug": _pairs("""
        阿司匹林|aspirin
        布洛芬|ibuprofen
        头孢|cephalosporin
        对乙酰氨基酚|Tylenol
        酒|alcohol
        咖啡|coffee
        降压药|my blood pressure meds
        避孕药|birth control
        抗抑郁药|antidepressants
        感冒药|cold medicine
    """),
    "fin_doc": _pairs("""
        发票|invoice
        小票|receipt
        收据|receipt
        银行流水|bank statement
        对账单|account statement
        信用卡账单|credit card bill
        工资条|pay slip
        水电费账单|utility bill
        转账截图|transfer screenshot
        报销单|expense report
        税单|tax form
        保单|insurance policy
        账单|bill
        贷款合同|loan agreement
        购物小票|shopping receipt
        基金持仓截图|fund portfolio screenshot
        股票账户截图|brokerage screenshot
        房贷还款表|mortgage schedule
        报价单|quote
        医疗费用清单|hospital bill
    """),
    "asset": _pairs("""
        股票|stock
        基金|fund
        比特币|bitcoin
        黄金|gold
        理财产品|investment product
        债券|bond
        房子|apartment
        期权|option
        这只股|this ticker
        指数基金|index fund
    """),
    "legal_doc": _pairs("""
        合同|contract
        租房合同|lease
        劳动合同|employment contract
        协议|agreement
        判决书|court judgment
        起诉书|complaint filing
        律师函|lawyer's letter
        罚单|ticket
        传票|summons
        遗嘱|will
        授权书|power of attorney
        离婚协议|divorce agreement
        保密协议|NDA
        用户协议|terms of service
        购房合同|purchase contract
        竞业协议|non-compete agreement
        借条|IOU
        营业执照|business license
        法院通知|court notice
        警告信|cease and desist letter
    """),
    "legal_clause": _pairs("""
        违约金条款|penalty clause
        押金条款|deposit clause
        试用期条款|probation clause
        竞业限制条款|non-compete clause
        免责条款|liability waiver
        自动续约条款|auto-renewal clause
        解约条款|termination clause
        加班条款|overtime clause
        保密条款|confidentiality clause
        仲裁条款|arbitration clause
    """),
    "legal_act": _pairs("""
        在这里停车|park here
        在这里钓鱼|fish here
        在这里放无人机|fly a drone here
        在这儿摆摊|set up a stall here
        在这里露营|camp here
        拍这栋楼|photograph this building
        把这张图用在广告里|use this image in an ad
        转卖这张票|resell this ticket
        在这里掉头|make a U-turn here
        在这个位置吸烟|smoke here
        翻过这个围栏|climb over this fence
        把这棵树砍了|cut down this tree
    """),
}

# Compositional slots: the same sentence frame ("{thing}{state}吗" / "Is {thing} {state}?") with
# a visible state (direct) or a judgement (cascade), so the frame itself carries no route signal.
SLOTS.update(
    {
        "person": _pairs("""
            图里的人|the person
            这个男的|the man
            那个小孩|the kid
            左边的女生|the girl on the left
            司机|the driver
            照片里的老人|the old man in the photo
            穿红衣服的人|the person in red
            服务员|the waiter
            站在中间的人|the guy in the middle
            新娘|the bride
        """),
        "person_state": _pairs("""
            戴着眼镜|wearing glasses
            在笑|smiling
            穿着外套|wearing a coat
            拿着手机|holding a phone
            坐着|sitting down
            看着镜头|looking at the camera
            在跑步|running
            背着包|carrying a backpack
            打着伞|holding an umbrella
            系着安全带|wearing a seatbelt
            戴着口罩|wearing a mask
            光着脚|barefoot
            在打电话|on the phone
            戴着帽子|wearing a hat
            留着胡子|bearded
        """),
        "thing": _pairs("""
            这个东西|this thing
            它|it
            这个产品|this product
            这个瓶子|this bottle
            这个盒子|this box
            这个设备|this device
            这个零件|this part
            这块表|this watch
            这件衣服|this shirt
            这个包|this bag
            这个杯子|this cup
            这台机器|this machine
            这把椅子|this chair
            这个玩具|this toy
        """),
        "thing_state": _pairs("""
            是红色的|red
            是开着的|switched on
            插着电|plugged in
            是空的|empty
            放在桌上|on the table
            在画面中间|in the middle of the picture
            是圆形的|round
            是湿的|wet
            打开了|open
            比旁边那个大|bigger than the one next to it
            是新的还是旧的，看起来|new or used looking
            有贴标签|labeled
            倒在地上|lying on the floor
            被挡住了|partly hidden
            有两个|there twice
        """),
        "thing_judge": _pairs("""
            是真的|real
            是正品|genuine
            安全|safe
            正常|normal
            值得买|worth buying
            能吃|edible
            有毒|toxic
            健康|healthy
            还能用|still usable
            适合我|right for me
            快坏了|about to break
            靠谱|reliable
            该换了|due for replacement
            过时了|outdated
            是假的|fake
            质量好|good quality
            防水|waterproof
            对小孩有害|harmful to kids
            环保|eco-friendly
            耐用|durable
        """),
        "thing_judge_fin": _pairs("""
            划算|a good deal
            买贵了|overpriced
            值这个价|worth the money
            保值|going to hold its value
            值得投资|a good investment
            能卖个好价钱|going to resell well
        """),
        "thing_judge_legal": _pairs("""
            合法|legal
            允许带上飞机|allowed on a plane
            侵权|infringing a trademark
            需要持证才能用|something that needs a license
            违规|against the rules
            能合法出售|legal to sell
        """),
        "kind_direct": _pairs("""
            花|flower
            鸟|bird
            车|car
            牌子|brand
            建筑|building
            菜|dish
            字体|font
            软件|app
            游戏|game
            城市|city
            语言|language
            树|tree
            品种|breed
            动物|animal
            水果|fruit
            乐器|instrument
            运动|sport
            型号|model
            虫子|insect
            鱼|fish
            石头|rock
            字|character
            家具|furniture
            面料|fabric pattern
        """),
        "kind_cascade": _pairs("""
            故障|fault
            毛病|issue
            骗局|scam
            虫害|pest problem
            植物病|plant disease
            漏洞|vulnerability
            问题|problem
        """),
        "kind_cascade_med": _pairs("""
            病|disease
            皮肤病|skin disease
            感染|infection
            过敏|allergic reaction
            真菌感染|fungal infection
            炎症|inflammation
            疹子|kind of rash
            肿瘤|tumor
        """),
    }
)

# Maths: computing something (cascade) versus reading a labelled value (direct).
SLOTS.update(
    {
        "math_task": _pairs("""
            阴影部分的面积|the area of the shaded region
            这个函数的导数|the derivative of this function
            这个积分|this integral
            x的值|the value of x
            这个三角形的周长|the perimeter of the triangle
            这个方程组的解|the solution to this system of equations
            这个数列的通项公式|the general term of this sequence
            这个事件的概率|the probability of this event
            这个矩阵的行列式|the determinant of this matrix
            圆的半径|the radius of the circle
            这条直线的斜率|the slope of this line
            这个式子化简后的结果|the simplified form of this expression
            角ABC的度数|angle ABC
            这个长方体的体积|the volume of this box
            这组数据的平均数|the mean of this data
        """),
        "math_label": _pairs("""
            角度|angle
            边长|side length
            半径|radius
            坐标|coordinates
            数值|number
            单位|unit
            长度|length
        """),
    }
)

# Chinese colloquial substitutions applied at random; they teach the model that "啥" and "什么"
# mean the same thing without needing separate templates.
ZH_COLLOQUIAL: list[tuple[str, str]] = [
    ("什么", "啥"),
    ("怎么办", "咋办"),
    ("怎么", "咋"),
    ("这个", "这"),
    ("一下", "下"),
    ("是不是", "是否"),
    ("吗", "么"),
]

ZH_PREFIXES = [
    "",
    "",
    "",
    "",
    "",
    "",
    "请问",
    "请问一下，",
    "麻烦帮我看看，",
    "帮我看下",
    "你好，",
    "您好，",
    "我想问下，",
    "我拍了张照片，",
    "刚拍的，",
    "朋友发我的图，",
    "看一下这个：",
    "问一下",
    "急！",
    "在吗，",
    "hi，",
    "小助手，",
    "我不太懂，",
    "如图，",
    "附图，",
    "打扰一下，",
    "老师，",
]
ZH_SUFFIXES = [
    "",
    "",
    "？",
    "？",
    "?",
    "?",
    "。",
    "呢？",
    "啊？",
    "呀",
    "？？",
    "谢谢",
    "，谢谢！",
    "，急",
    "，在线等",
    "。多谢",
    "!",
    "～",
    "哈",
    "吖",
    "? 谢谢",
]
EN_PREFIXES = [
    "",
    "",
    "",
    "",
    "",
    "",
    "Hi, ",
    "Hey! ",
    "Quick question: ",
    "Sorry if this is dumb, ",
    "Looking at this photo, ",
    "I just took this pic. ",
    "My friend sent me this. ",
    "Hello, ",
    "ok so ",
    "Question: ",
    "Hi there, ",
    "hey ",
    "Um, ",
    "Help! ",
    "So, ",
]
EN_SUFFIXES = [
    "",
    "",
    "?",
    "?",
    "?",
    "??",
    " thanks!",
    " pls",
    "? thx",
    " :)",
    ".",
    "? Thank you.",
    " please",
    "?!",
    "...",
    " ty",
    "? asking for a friend",
]
