,noauto,disablegui
