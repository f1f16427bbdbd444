# Generates N labelled product and hotel reviews as CSV (label,review;
# 1 positive, 0 negative), for the memory and time of sentiment training
# (bench-chat.sh): two thirds in Chinese, a third in English, 20 to 140
# characters of Chinese or 10 to 70 words of English, about a quarter of
# them sentiment words and the rest topic words and filler drawn from
# 3,000 Han characters or 5,000 made-up words, so that the vocabulary
# grows with the corpus as a real one does.  Run with LC_ALL=C: Han
# characters are written byte by byte.
function utf8(cp) {
	return sprintf("%c%c%c", 224 + int(cp / 4096),
		128 + int(cp / 64) % 64, 128 + cp % 64)
}
function han(   n, i, s) {
	n = 1 + int(rand() * 2); s = ""
	for (i = 0; i < n; i++)
		s = s utf8(19968 + int(3000 * rand() * rand()))
	return s
}
function word(   w, n, i) {
	n = 1 + int(rand() * 4); w = ""
	for (i = 0; i < n; i++)
		w = w substr("bcdfghjklmnprstvwz", 1 + int(rand() * 18), 1) \
		      substr("aeiou", 1 + int(rand() * 5), 1)
	return w
}
function review_zh(label,   n, s, k) {
	n = 10 + int(rand() * 60); s = ""
	for (k = 0; k < n; k++) {
		if (rand() < 0.25)
			s = s (rand() < 0.85 ? (label ? zpos[int(rand() * nzp)] \
			                              : zneg[int(rand() * nzn)]) \
			                     : (label ? zneg[int(rand() * nzn)] \
			                              : zpos[int(rand() * nzp)]))
		else if (rand() < 0.3)
			s = s ztopic[int(rand() * nzt)]
		else
			s = s hfill[int(rand() * 4000)]
		if (rand() < 0.12) s = s "，"
	}
	return s "。"
}
function review_en(label,   n, s, k) {
	n = 10 + int(rand() * 60); s = ""
	for (k = 0; k < n; k++) {
		if (rand() < 0.2)
			s = s " " (rand() < 0.85 ? (label ? epos[int(rand() * nep)] \
			                                  : eneg[int(rand() * nen)]) \
			                         : (label ? eneg[int(rand() * nen)] \
			                                  : epos[int(rand() * nep)]))
		else if (rand() < 0.4)
			s = s " " etopic[int(rand() * net)]
		else
			s = s " " efill[int(rand() * 5000)]
		if (rand() < 0.08) s = s ","
	}
	return substr(s, 2) "."
}
BEGIN {
	srand(SEED ? SEED : 7)
	N = N ? N : 96000
	nzp = split("好 很好 不错 满意 喜欢 舒适 干净 推荐 方便 划算 值得 热情 周到 完美 好评 实惠 安静 漂亮 快 清晰", t, " ")
	for (k = 1; k <= nzp; k++) zpos[k - 1] = t[k]
	nzn = split("差 很差 失望 垃圾 脏 吵 慢 退货 后悔 糟糕 不值 太贵 破 难用 坑 恶心 投诉 不满 麻烦 旧", t, " ")
	for (k = 1; k <= nzn; k++) zneg[k - 1] = t[k]
	nzt = split("酒店 房间 服务 前台 早餐 位置 价格 质量 物流 包装 屏幕 电池 书 内容 快递 客服 床 卫生间 机器 键盘", t, " ")
	for (k = 1; k <= nzt; k++) ztopic[k - 1] = t[k]
	nep = split("good great excellent love perfect nice clean comfortable recommend happy worth friendly fast easy amazing", t, " ")
	for (k = 1; k <= nep; k++) epos[k - 1] = t[k]
	nen = split("bad terrible awful dirty noisy slow broken refund disappointed waste poor rude cheap worst useless", t, " ")
	for (k = 1; k <= nen; k++) eneg[k - 1] = t[k]
	net = split("hotel room staff breakfast location price quality delivery screen battery book story service bed product", t, " ")
	for (k = 1; k <= net; k++) etopic[k - 1] = t[k]
	for (k = 0; k < 4000; k++) hfill[k] = han()
	for (k = 0; k < 5000; k++) efill[k] = word()
	print "label,review"
	for (r = 0; r < N; r++) {
		label = rand() < 0.5
		text = r % 3 == 2 ? review_en(label) : review_zh(label)
		printf "%d,\"%s\"\n", label, text
	}
}
