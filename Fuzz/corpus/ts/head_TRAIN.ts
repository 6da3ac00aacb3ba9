#A UCI Archive dataset. See this link for more detailed information: https://archive.ics.uci.edu/ml/datasets/Japanese+Vowels
#Paper: M. Kudo, J. Toyama and M. Shimbo. (1999). "Multidimensional Curve Classification Using Passing-Through Regions". Pattern Recognition Letters, Vol. 20, No. 11--13, pages 1103--1111.
#
#
#9 Japanese-male speakers were recorded saying the vowels 'a' and 'e'. A '12-degree linear prediction analysis' is applied to the raw recordings to obtain time-series with 12 dimensions and series lengths between 7 and 29. The classification task is to predict the speaker. Therefore, each instance is a transformed utterance, 12*29 values with a single class label attached, [1...9].
#
#The given training set is comprised of 30 utterances for each speaker, however the test set has a varied distribution based on external factors of timing and experimental availability, between 24 and 88 instances per speaker.
@problemName JapaneseVowels
@timeStamps false
@missing false
@univariate false
@dimensions 12
@equalLength false
@classLabel true 1 2 3 4 5 6 7 8 9
@data
1.860936,1.891651,1.939205,1.717517,1.741191,1.684695,1.637373,1.643283,1.60703,1.617907,1.51035,1.371225,1.299045,1.221498,1.181849,1.16163,1.19499,1.264847,1.250698,1.261441:-0.207383,-0.193249,-0.239664,-0.218572,-0.279891,-0.311977,-0.336227,-0.349773,-0.382745,-0.527367,-0.548025,-0.470988,-0.495095,-0.50008,-0.496439,-0.481933,-0.510964,-0.564878,-0.612291,-0.63835:0.261557,0.235363,0.258561,0.217119,0.19