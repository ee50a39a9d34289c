-- Vietnamese public holidays 2025–2027 for working-day arithmetic (Labour
-- Code 2019 Art. 112: Tết Dương lịch, Tết Nguyên đán 5 days, Giỗ Tổ Hùng
-- Vương 10/3 lunar, 30/4, 1/5, Quốc khánh 2/9 plus an adjacent day; a
-- holiday on a weekend is compensated on the next working day). Only
-- weekdays off are listed; 'workday' rows are Saturdays worked in exchange.
-- 2025 follows the Government's published schedule; the Tết, bridge and
-- compensation days of 2026–2027 follow the usual rule and must be checked
-- against each year's notice — officers edit them on the backlog page or
-- with PUT/DELETE /api/v1/holidays/{date}.
INSERT INTO holidays (day, name, kind) VALUES
    ('2025-01-01', 'Tết Dương lịch', 'holiday'),
    ('2025-01-27', 'Tết Nguyên đán Ất Tỵ', 'holiday'),
    ('2025-01-28', 'Tết Nguyên đán Ất Tỵ', 'holiday'),
    ('2025-01-29', 'Tết Nguyên đán Ất Tỵ (mùng 1)', 'holiday'),
    ('2025-01-30', 'Tết Nguyên đán Ất Tỵ', 'holiday'),
    ('2025-01-31', 'Tết Nguyên đán Ất Tỵ', 'holiday'),
    ('2025-04-07', 'Giỗ Tổ Hùng Vương (10/3 âm lịch)', 'holiday'),
    ('2025-04-26', 'Làm bù cho ngày nghỉ 02/5', 'workday'),
    ('2025-04-30', 'Ngày Chiến thắng', 'holiday'),
    ('2025-05-01', 'Ngày Quốc tế Lao động', 'holiday'),
    ('2025-05-02', 'Nghỉ hoán đổi (làm bù 26/4)', 'holiday'),
    ('2025-09-01', 'Quốc khánh (ngày liền kề)', 'holiday'),
    ('2025-09-02', 'Quốc khánh', 'holiday'),
    ('2026-01-01', 'Tết Dương lịch', 'holiday'),
    ('2026-02-16', 'Tết Nguyên đán Bính Ngọ', 'holiday'),
    ('2026-02-17', 'Tết Nguyên đán Bính Ngọ (mùng 1)', 'holiday'),
    ('2026-02-18', 'Tết Nguyên đán Bính Ngọ', 'holiday'),
    ('2026-02-19', 'Tết Nguyên đán Bính Ngọ', 'holiday'),
    ('2026-02-20', 'Tết Nguyên đán Bính Ngọ', 'holiday'),
    ('2026-04-27', 'Nghỉ bù Giỗ Tổ Hùng Vương (26/4, Chủ nhật)', 'holiday'),
    ('2026-04-30', 'Ngày Chiến thắng', 'holiday'),
    ('2026-05-01', 'Ngày Quốc tế Lao động', 'holiday'),
    ('2026-09-01', 'Quốc khánh (ngày liền kề)', 'holiday'),
    ('2026-09-02', 'Quốc khánh', 'holiday'),
    ('2027-01-01', 'Tết Dương lịch', 'holiday'),
    ('2027-02-05', 'Tết Nguyên đán Đinh Mùi (30 Tết)', 'holiday'),
    ('2027-02-08', 'Tết Nguyên đán Đinh Mùi', 'holiday'),
    ('2027-02-09', 'Tết Nguyên đán Đinh Mùi', 'holiday'),
    ('2027-02-10', 'Nghỉ bù Tết (mùng 1, thứ Bảy)', 'holiday'),
    ('2027-02-11', 'Nghỉ bù Tết (mùng 2, Chủ nhật)', 'holiday'),
    ('2027-04-16', 'Giỗ Tổ Hùng Vương (10/3 âm lịch)', 'holiday'),
    ('2027-04-30', 'Ngày Chiến thắng', 'holiday'),
    ('2027-05-03', 'Nghỉ bù Quốc tế Lao động (1/5, thứ Bảy)', 'holiday'),
    ('2027-09-02', 'Quốc khánh', 'holiday'),
    ('2027-09-03', 'Quốc khánh (ngày liền kề)', 'holiday');
