DROP TABLE cosigner_turn;
DROP TABLE cosigner_nonce;
DROP TABLE cosigner_day_total;
DROP TABLE cosigner_signed;
DROP TABLE cosigner_decision;
